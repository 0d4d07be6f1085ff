"""The agreement gate's bar, owned by admins.

An admin sets the minimum kappa and the minimum number of labelled items for the
whole workspace, and optionally for one dataset, whose row overrides the
workspace's. Without any row the gate's defaults apply. A snapshot's bar is its
datasets' (the strictest of each value when it spans several). A researcher who
submits a job with a lower bar overrides the gate (models/training/jobs.py): that
needs a reason, which the job and the audit log keep.
"""

from __future__ import annotations

from dataclasses import dataclass

from rubricforge.models.accounts.permissions import Action, UserInfo, require
from rubricforge.models.core.audit import audit
from rubricforge.models.core.errors import NotFoundError
from rubricforge.models.data.orm import SnapshotItem
from rubricforge.models.rubrics.orm import Dataset, Prompt
from rubricforge.models.training.gate import DEFAULT_MIN_KAPPA, DEFAULT_MIN_LABELS, GatePolicy
from rubricforge.models.training.orm import GateThreshold
from sqlalchemy import func, select
from sqlalchemy.orm import Session

WORKSPACE = "workspace"
DEFAULTS = "defaults"


@dataclass(frozen=True)
class Thresholds:
    """A bar and where it comes from: WORKSPACE, DEFAULTS or "dataset <name>"."""

    min_kappa: float
    min_labels: int
    source: str

    @property
    def policy(self) -> GatePolicy:
        return GatePolicy(min_kappa=self.min_kappa, min_labels=self.min_labels)

    def lowered_by(self, policy: GatePolicy) -> bool:
        """Whether `policy` asks for less than this bar (an override)."""
        return policy.min_kappa < self.min_kappa or policy.min_labels < self.min_labels

    def to_json(self) -> dict[str, object]:
        return {"min_kappa": self.min_kappa, "min_labels": self.min_labels, "source": self.source}


@dataclass(frozen=True)
class ThresholdRow:
    dataset: str | None  # None: the workspace's
    min_kappa: float
    min_labels: int
    updated_at: str


def _workspace(session: Session) -> Thresholds:
    row = session.scalars(select(GateThreshold).where(GateThreshold.dataset_id.is_(None))).first()
    if row is None:
        return Thresholds(DEFAULT_MIN_KAPPA, DEFAULT_MIN_LABELS, DEFAULTS)
    return Thresholds(row.min_kappa, row.min_labels, WORKSPACE)


def effective_thresholds(session: Session, snapshot_id: int) -> Thresholds:
    """The admins' bar for a snapshot: each of its datasets' own row, else the workspace's,
    else the defaults; the strictest value of each across the datasets."""
    workspace = _workspace(session)
    datasets = session.execute(
        select(Dataset.name, GateThreshold.min_kappa, GateThreshold.min_labels)
        .select_from(SnapshotItem)
        .join(Prompt, Prompt.id == SnapshotItem.prompt_id)
        .join(Dataset, Dataset.id == Prompt.dataset_id)
        .outerjoin(GateThreshold, GateThreshold.dataset_id == Dataset.id)
        .where(SnapshotItem.snapshot_id == snapshot_id)
        .distinct()
        .order_by(Dataset.name)
    ).all()
    bars = [
        Thresholds(kappa, labels, f"dataset {name}") if kappa is not None else workspace
        for name, kappa, labels in datasets
    ] or [workspace]
    kappa = max(bars, key=lambda b: b.min_kappa)
    labels = max(bars, key=lambda b: b.min_labels)
    source = kappa.source if kappa.source == labels.source else f"{kappa.source}, {labels.source}"
    return Thresholds(kappa.min_kappa, labels.min_labels, source)


def dataset_thresholds(session: Session, dataset: str | None = None) -> Thresholds:
    """The bar a snapshot of `dataset` alone would get (the workspace's for None)."""
    workspace = _workspace(session)
    if dataset is None:
        return workspace
    row = session.execute(
        select(GateThreshold.min_kappa, GateThreshold.min_labels)
        .join(Dataset, Dataset.id == GateThreshold.dataset_id)
        .where(Dataset.name == dataset)
    ).first()
    return Thresholds(row[0], row[1], f"dataset {dataset}") if row else workspace


def list_thresholds(session: Session) -> list[ThresholdRow]:
    """Every row an admin set: the workspace's first, then the datasets' by name."""
    rows = session.execute(
        select(Dataset.name, GateThreshold.min_kappa, GateThreshold.min_labels,
               GateThreshold.updated_at)
        .outerjoin(Dataset, Dataset.id == GateThreshold.dataset_id)
        .order_by(GateThreshold.dataset_id.is_not(None), Dataset.name)
    ).all()  # fmt: skip
    return [
        ThresholdRow(name, kappa, labels, at.strftime("%Y-%m-%d %H:%M UTC"))
        for name, kappa, labels, at in rows
    ]


def set_thresholds(
    session: Session,
    *,
    actor: UserInfo,
    min_kappa: float,
    min_labels: int,
    dataset: str | None = None,
) -> Thresholds:
    """Set the workspace's bar (`dataset` None) or one dataset's. Admins only; audited.

    Raises PermissionDenied, InvalidInputError (out of range), NotFoundError (dataset)."""
    require(actor, Action.manage_gate)
    policy = GatePolicy(min_kappa=float(min_kappa), min_labels=int(min_labels))
    dataset_id = None
    if dataset is not None:
        dataset_id = session.scalar(select(Dataset.id).where(Dataset.name == dataset))
        if dataset_id is None:
            raise NotFoundError(f"dataset {dataset!r} does not exist; import it first")
    # One workspace row: two admins saving at once take turns (NULLs are never unique).
    key = func.hashtextextended(f"gate_thresholds:{dataset_id}", 0)
    session.execute(select(func.pg_advisory_xact_lock(key)))
    row = session.scalars(
        select(GateThreshold).where(GateThreshold.dataset_id.is_not_distinct_from(dataset_id))
    ).first()
    was = None if row is None else {"min_kappa": row.min_kappa, "min_labels": row.min_labels}
    if row is None:
        row = GateThreshold(dataset_id=dataset_id)
        session.add(row)
    row.min_kappa, row.min_labels = policy.min_kappa, policy.min_labels
    row.updated_by_id = actor.id
    row.updated_at = func.now()
    session.flush()
    audit(
        session,
        actor=actor.username,
        action="training.gate_thresholds",
        entity="gate_thresholds",
        entity_id=dataset or WORKSPACE,
        details={
            "dataset": dataset,
            "min_kappa": policy.min_kappa,
            "min_labels": policy.min_labels,
            "was": was,
        },
        user_id=actor.id,
    )
    source = f"dataset {dataset}" if dataset is not None else WORKSPACE
    return Thresholds(policy.min_kappa, policy.min_labels, source)
