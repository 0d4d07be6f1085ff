"""Training jobs as a researcher sees them: submit, cancel, list, read metrics.

The app and the CLI call these; the trainer worker claims and runs what they
queue. Every status change goes through models/training/queue.py. Every write
leaves an audit entry. No torch here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rubricforge.models.accounts.permissions import Action, UserInfo, require
from rubricforge.models.core.audit import audit
from rubricforge.models.core.errors import NotFoundError, RubricforgeError
from rubricforge.models.core.status import LIVE, Status
from rubricforge.models.data.exporter import SnapshotInfo
from rubricforge.models.data.orm import ExportSnapshot
from rubricforge.models.training import queue
from rubricforge.models.training.config import JobConfig, parse_job_config
from rubricforge.models.training.gate import (
    AgreementGateError,
    GatePolicy,
    GateReport,
    measure_agreement,
)
from rubricforge.models.training.orm import TrainingJob, TrainingMetric
from rubricforge.models.training.thresholds import Thresholds, effective_thresholds
from rubricforge.models.training.worker_policy import check_at_submit
from sqlalchemy import func, select
from sqlalchemy.orm import Session

# A second identical submit (same user, snapshot and config) this soon is the same job.
DUPLICATE_WINDOW_S = 10
# Key of a metric row that holds the step's sample completions, not a number.
SAMPLES_KEY = "samples"


class JobStateError(RubricforgeError):
    """The job is not in a state that allows the request."""


class LoweredGateError(AgreementGateError):
    """The submission asks for a lower bar than the admins set, without a reason."""

    def __init__(self, report: GateReport, bar: Thresholds):
        self.report, self.bar = report, bar
        RubricforgeError.__init__(
            self,
            f"agreement gate: the admins' bar for snapshot {report.snapshot_id} is Cohen's "
            f"kappa ≥ {bar.min_kappa:g} over ≥ {bar.min_labels} labelled items ({bar.source}); "
            f"this submission asks for kappa ≥ {report.min_kappa:g} over ≥ {report.min_labels}. "
            "Lowering the bar is an override: give an override reason (--override-reason on "
            "`rubricforge train submit`, or the override field on the Training page), which is "
            "recorded with the job and in the audit log, or keep the admins' values. "
            "Nothing was queued.",
        )


@dataclass(frozen=True)
class JobInfo:
    id: int
    snapshot_id: int
    snapshot_name: str
    status: Status
    cancel_requested: bool
    attempts: int
    max_attempts: int
    worker_id: str | None
    error: str | None
    output_uri: str | None
    base_model: str
    max_steps: int
    last_step: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    config: dict[str, Any]
    provenance: dict[str, Any]


def _provenance(snapshot: ExportSnapshot, config: JobConfig) -> dict[str, Any]:
    """What the job is bound to at submit time. The worker adds, at launch, the hash
    of the rows it actually loaded and the judge template it actually used."""
    judge = config.judge
    return {
        "snapshot": {
            "id": snapshot.id,
            "name": snapshot.name,
            "sha256": snapshot.sha256,
            "row_count": snapshot.row_count,
        },
        "judge": {
            "base_url": judge.base_url,
            "model": judge.model,
            **judge.provenance(),  # the reward preset and its effective weights
            "mode": judge.mode.value,
            "aggregation": judge.aggregation.value,
            "per_criterion": judge.per_criterion,
            "template_hash": judge.judge_config().template_hash,
        },
        "base_model": config.model_name_or_path,
    }


def submit_job(
    session: Session,
    *,
    actor: UserInfo,
    snapshot_id: int,
    config: Mapping[str, Any],
    gate: GatePolicy | None = None,
    override_reason: str | None = None,
) -> int:
    """Validate `config`, pass the agreement gate and queue a GRPO job on the
    snapshot; return the job id.

    The gate (models/training/gate.py) measures the job's judge against the snapshot's
    spot-check labels. Its bar is the admins' (models/training/thresholds.py); `gate`
    may raise it, but a lower value is an override. A job that fails the bar, or
    lowers it, is queued only with an `override_reason`, recorded with the job (the
    lowered and the admins' values too) and in the audit log.

    Raises PermissionDenied (the user may not train), JobConfigError (every problem,
    by field), NotFoundError (snapshot), AgreementGateError (the gate refused, or
    LoweredGateError: the bar was lowered; no override reason). Nothing is written
    unless the job is queued.

    Idempotent for a double click: the same user making the same submission (config,
    gate bar, override reason) on the same snapshot within DUPLICATE_WINDOW_S gets
    the job it already queued, if that job is still live.
    """
    require(actor, Action.train)
    cfg = parse_job_config(dict(config))
    check_at_submit(cfg)
    snapshot = session.get(ExportSnapshot, snapshot_id)
    if snapshot is None:
        raise NotFoundError(
            f"export snapshot {snapshot_id} does not exist; create one with `rubricforge export` "
            "and pass its id"
        )
    stored = cfg.model_dump(mode="json")
    reason = (override_reason or "").strip()
    bar = effective_thresholds(session, snapshot.id)
    policy = gate or bar.policy
    lowered = bar.lowered_by(policy)
    submission = _fingerprint(stored, policy, reason)
    duplicate = _recent_duplicate(session, snapshot.id, submission, actor.id)
    if duplicate is not None:
        return duplicate
    report = measure_agreement(
        session, snapshot.id, cfg.judge, policy, policy_model=cfg.model_name_or_path
    )
    if lowered and not reason:
        raise LoweredGateError(report, bar)
    if not report.passed and not reason:
        raise AgreementGateError(report)
    agreement: dict[str, Any] = {**report.to_json(), "override": None, "bar": bar.to_json()}
    if not report.passed or lowered:
        agreement["override"] = {
            "reason": reason,
            "by": actor.username,
            "user_id": actor.id,
            "at": datetime.now(UTC).isoformat(),
            "lowered": {"min_kappa": policy.min_kappa, "min_labels": policy.min_labels}
            if lowered
            else None,
            "admin": bar.to_json(),
        }
    job = TrainingJob(
        snapshot_id=snapshot.id,
        config=stored,
        status=Status.queued,
        max_attempts=cfg.max_attempts,
        provenance={**_provenance(snapshot, cfg), "agreement": agreement, "submission": submission},
        created_by_id=actor.id,
    )
    session.add(job)
    session.flush()
    audit(
        session,
        actor=actor.username,
        action="training.submit",
        entity="training_job",
        entity_id=job.id,
        details={
            "snapshot_id": snapshot.id,
            "snapshot_sha256": snapshot.sha256,
            "config": stored,
            "agreement": agreement,
        },
        user_id=actor.id,
    )
    if agreement["override"] is not None:
        audit(
            session,
            actor=actor.username,
            action="training.gate_override",
            entity="training_job",
            entity_id=job.id,
            details={
                "reason": reason,
                "problems": report.problems,
                "report": report.to_json(),
                "lowered": agreement["override"]["lowered"],
                "admin": bar.to_json(),
            },
            user_id=actor.id,
        )
    return job.id


def _fingerprint(stored: dict[str, Any], gate: GatePolicy, reason: str) -> str:
    """What one submission asked for: the config, the gate's bar and the override reason."""
    asked = {"config": stored, "gate": [gate.min_kappa, gate.min_labels], "reason": reason}
    return hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()


def _recent_duplicate(
    session: Session, snapshot_id: int, submission: str, user_id: int | None
) -> int | None:
    """The live job the same submission (`_fingerprint`) queued moments ago, if any. Two submits
    racing (a double click: two reruns) take the same transaction-scoped advisory
    lock first, so the second one sees the first one's job."""
    key = func.hashtextextended(f"training.submit:{snapshot_id}:{user_id}", 0)
    session.execute(select(func.pg_advisory_xact_lock(key)))
    return session.scalar(
        select(TrainingJob.id)
        .where(
            TrainingJob.snapshot_id == snapshot_id,
            TrainingJob.created_by_id.is_not_distinct_from(user_id),
            TrainingJob.provenance["submission"].astext == submission,
            TrainingJob.status.in_(LIVE),
            TrainingJob.created_at > func.now() - timedelta(seconds=DUPLICATE_WINDOW_S),
        )
        .order_by(TrainingJob.id.desc())
        .limit(1)
    )


def request_cancel(session: Session, job_id: int, *, actor: UserInfo) -> Status:
    """Cancel a job. A queued job is cancelled at once; a running one is flagged and
    its worker stops after the step in progress. Returns the job's status now."""
    require(actor, Action.train)
    changed = queue.cancel(session, job_id)
    if changed is None:
        status = session.execute(
            select(TrainingJob.status).where(TrainingJob.id == job_id)
        ).scalar_one_or_none()
        if status is None:
            raise NotFoundError(f"training job {job_id} does not exist")
        raise JobStateError(f"job {job_id} already {status.value}; there is nothing to cancel")
    was, now = changed
    audit(
        session,
        actor=actor.username,
        action="training.cancel",
        entity="training_job",
        entity_id=job_id,
        details={"status_was": was.value},
        user_id=actor.id,
    )
    return now


def snapshot_choices(session: Session, limit: int = 200) -> list[SnapshotInfo]:
    """Snapshots a job can train on, newest first (the Training page's select)."""
    rows = session.execute(
        select(
            ExportSnapshot.id, ExportSnapshot.name, ExportSnapshot.sha256, ExportSnapshot.row_count
        )
        .order_by(ExportSnapshot.created_at.desc(), ExportSnapshot.id.desc())
        .limit(limit)
    ).all()
    return [SnapshotInfo(*row) for row in rows]


def _last_steps() -> Any:
    return (
        select(TrainingMetric.job_id, func.max(TrainingMetric.step).label("last_step"))
        .group_by(TrainingMetric.job_id)
        .subquery()
    )


def _infos(session: Session, *where: Any, limit: int | None = None) -> list[JobInfo]:
    last = _last_steps()
    query = (
        select(TrainingJob, ExportSnapshot.name, last.c.last_step)
        .join(ExportSnapshot, ExportSnapshot.id == TrainingJob.snapshot_id)
        .outerjoin(last, last.c.job_id == TrainingJob.id)
        .where(*where)
        .order_by(TrainingJob.created_at.desc(), TrainingJob.id.desc())
        .limit(limit)
    )
    return [
        JobInfo(
            id=job.id,
            snapshot_id=job.snapshot_id,
            snapshot_name=name,
            status=job.status,
            cancel_requested=job.cancel_requested,
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            worker_id=job.worker_id,
            error=job.error,
            output_uri=job.output_uri,
            base_model=job.config.get("model_name_or_path", ""),
            max_steps=job.config.get("max_steps", 0),
            last_step=last_step,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            heartbeat_at=job.heartbeat_at,
            config=job.config,
            provenance=job.provenance,
        )
        for job, name, last_step in session.execute(query).all()
    ]


def list_jobs(session: Session, *, status: Status | None = None, limit: int = 200) -> list[JobInfo]:
    """Newest first."""
    where = [TrainingJob.status == status] if status is not None else []
    return _infos(session, *where, limit=limit)


def get_job(session: Session, job_id: int) -> JobInfo:
    found = _infos(session, TrainingJob.id == job_id)
    if not found:
        raise NotFoundError(f"training job {job_id} does not exist")
    return found[0]


def job_metrics(session: Session, job_id: int) -> list[tuple[int, dict[str, float]]]:
    """(step, numeric metrics) per logging step, in step order, for the curves."""
    if session.get(TrainingJob, job_id) is None:
        raise NotFoundError(f"training job {job_id} does not exist")
    rows = session.execute(
        select(TrainingMetric.step, TrainingMetric.values)
        .where(TrainingMetric.job_id == job_id)
        .order_by(TrainingMetric.step, TrainingMetric.id)
    ).all()
    return [(step, {k: v for k, v in values.items() if k != SAMPLES_KEY}) for step, values in rows]


def last_samples(session: Session, job_id: int) -> tuple[int | None, list[dict[str, Any]]]:
    """The newest logged step's sample completions with their rewards and per-criterion
    verdicts: (step, samples), or (None, []) before the first one."""
    row = session.execute(
        select(TrainingMetric.step, TrainingMetric.values[SAMPLES_KEY])
        .where(TrainingMetric.job_id == job_id, TrainingMetric.values.has_key(SAMPLES_KEY))
        .order_by(TrainingMetric.step.desc(), TrainingMetric.id.desc())
        .limit(1)
    ).first()
    return (row[0], row[1]) if row else (None, [])
