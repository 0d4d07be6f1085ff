"""Admin-owned gate thresholds on a real Postgres: only an admin sets them, a dataset's
row overrides the workspace's, a snapshot over several datasets gets the strictest,
and a researcher who lowers the bar needs a reason, which the job and the audit log
keep; a higher bar is simply stricter."""

from __future__ import annotations

import pytest
from rubricforge.models import AuditEntry, GateThreshold, TrainingJob
from rubricforge.models.accounts.orm import Role
from rubricforge.models.accounts.permissions import OPERATOR, UserInfo
from rubricforge.models.core.db import session_scope
from rubricforge.models.core.errors import InvalidInputError, NotFoundError, PermissionDenied
from rubricforge.models.data.exporter import ExportFilter, create_snapshot
from rubricforge.models.training.gate import AgreementGateError, GatePolicy
from rubricforge.models.training.jobs import LoweredGateError, submit_job
from rubricforge.models.training.thresholds import (
    DEFAULTS,
    WORKSPACE,
    dataset_thresholds,
    effective_thresholds,
    list_thresholds,
    set_thresholds,
)
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from test_gate import HIGH, LOW, config, counts, researcher
from training_support import SnapshotWorld, seed_snapshot, spotchecks

pytestmark = pytest.mark.db

ADMIN = UserInfo(id=None, username="ada", role=Role.admin)


def put(engine: Engine, kappa: float, labels: int, dataset: str | None = None) -> None:
    with session_scope(engine) as s:
        set_thresholds(s, actor=ADMIN, min_kappa=kappa, min_labels=labels, dataset=dataset)


def bar(engine: Engine, snapshot_id: int) -> tuple[float, int, str]:
    with Session(engine) as s:
        got = effective_thresholds(s, snapshot_id)
    return got.min_kappa, got.min_labels, got.source


def submit(engine: Engine, world: SnapshotWorld, **kw: object) -> int:
    with session_scope(engine) as s:
        return submit_job(
            s, actor=researcher("rita"), snapshot_id=world.snapshot_id, config=config(), **kw
        )


@pytest.fixture
def world(engine: Engine) -> SnapshotWorld:
    return seed_snapshot(engine, prompts=6, criteria=8)


def test_an_admin_sets_the_workspace_bar_and_a_dataset_overrides_it(
    engine: Engine, world: SnapshotWorld
) -> None:
    assert bar(engine, world.snapshot_id) == (0.6, 30, DEFAULTS)
    put(engine, 0.7, 40)
    assert bar(engine, world.snapshot_id) == (0.7, 40, WORKSPACE)
    put(engine, 0.5, 20, dataset="med")
    assert bar(engine, world.snapshot_id) == (0.5, 20, "dataset med")
    put(engine, 0.55, 25, dataset="med")  # a second save updates the row
    put(engine, 0.75, 45)
    with Session(engine) as s:
        assert s.scalar(select(func.count(GateThreshold.id))) == 2
        assert dataset_thresholds(s, "med").min_kappa == 0.55
        assert dataset_thresholds(s).min_labels == 45
        rows = list_thresholds(s)
        entries = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "training.gate_thresholds")
            .order_by(AuditEntry.id)
        ).all()
    assert [(r.dataset, r.min_kappa, r.min_labels) for r in rows] == [
        (None, 0.75, 45),
        ("med", 0.55, 25),
    ]
    assert [e.entity_id for e in entries] == ["workspace", "med", "med", "workspace"]
    assert entries[2].details["was"] == {"min_kappa": 0.5, "min_labels": 20}
    assert entries[0].actor == "ada"


def test_a_snapshot_over_several_datasets_gets_the_strictest_bar(engine: Engine) -> None:
    seed_snapshot(engine, dataset="med", prompts=2, criteria=2)
    seed_snapshot(engine, dataset="law", prompts=2, criteria=2)
    both = create_snapshot(engine, ExportFilter(), name="both", actor=OPERATOR)
    put(engine, 0.5, 50, dataset="med")
    put(engine, 0.8, 10, dataset="law")
    assert bar(engine, both.id) == (0.8, 50, "dataset law, dataset med")


@pytest.mark.parametrize("role", [Role.researcher, Role.expert, Role.annotator])
def test_only_an_admin_sets_thresholds_and_a_refusal_writes_nothing(
    engine: Engine, world: SnapshotWorld, role: Role
) -> None:
    before = counts(engine)
    with session_scope(engine) as s, pytest.raises(PermissionDenied, match="manage gate"):
        set_thresholds(s, actor=UserInfo(None, "x", role), min_kappa=0.1, min_labels=1)
    with Session(engine) as s:
        assert s.scalar(select(func.count(GateThreshold.id))) == 0
    assert counts(engine) == before


def test_bad_thresholds_and_unknown_datasets_are_refused(engine: Engine) -> None:
    with session_scope(engine) as s, pytest.raises(InvalidInputError, match="between -1 and 1"):
        set_thresholds(s, actor=ADMIN, min_kappa=1.5, min_labels=30)
    with session_scope(engine) as s, pytest.raises(NotFoundError, match="'nope'"):
        set_thresholds(s, actor=ADMIN, min_kappa=0.5, min_labels=30, dataset="nope")


def test_the_admins_bar_is_the_gate_by_default(engine: Engine, world: SnapshotWorld) -> None:
    spotchecks(engine, world, HIGH)  # kappa 0.8 over 40 items
    put(engine, 0.85, 30)
    with pytest.raises(AgreementGateError, match="below the required 0.85"):
        submit(engine, world)
    put(engine, 0.5, 30, dataset="med")
    job_id = submit(engine, world)
    with Session(engine) as s:
        agreement = s.get_one(TrainingJob, job_id).provenance["agreement"]
    assert agreement["override"] is None and agreement["min_kappa"] == 0.5
    assert agreement["bar"] == {"min_kappa": 0.5, "min_labels": 30, "source": "dataset med"}


def test_a_lower_bar_without_a_reason_is_refused_and_nothing_is_queued(
    engine: Engine, world: SnapshotWorld
) -> None:
    spotchecks(engine, world, HIGH)  # kappa 0.8: even the admins' bar passes
    put(engine, 0.7, 30)
    before = counts(engine)
    for gate in (GatePolicy(min_kappa=0.4, min_labels=30), GatePolicy(0.7, 10)):
        with pytest.raises(LoweredGateError) as err:
            submit(engine, world, gate=gate)
        message = str(err.value)
        assert "kappa ≥ 0.7 over ≥ 30 labelled items (workspace)" in message
        assert "Lowering the bar is an override" in message and "Nothing was queued" in message
    assert counts(engine) == before


def test_a_lower_bar_with_a_reason_is_an_audited_override(
    engine: Engine, world: SnapshotWorld
) -> None:
    spotchecks(engine, world, LOW)  # kappa 0.5
    put(engine, 0.7, 30)
    reason = "pilot on the new pitfall criteria"
    job_id = submit(engine, world, gate=GatePolicy(0.45, 20), override_reason=reason)
    with Session(engine) as s:
        agreement = s.get_one(TrainingJob, job_id).provenance["agreement"]
        entry = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "training.gate_override")
        ).one()
    override = agreement["override"]
    assert agreement["passed"] is True  # against the lowered bar
    assert override["reason"] == reason and override["by"] == "rita"
    assert override["lowered"] == {"min_kappa": 0.45, "min_labels": 20}
    assert override["admin"] == {"min_kappa": 0.7, "min_labels": 30, "source": WORKSPACE}
    assert entry.entity_id == str(job_id) and entry.details["reason"] == reason
    assert entry.details["lowered"] == {"min_kappa": 0.45, "min_labels": 20}
    assert entry.details["admin"]["min_kappa"] == 0.7


def test_a_higher_bar_is_just_stricter(engine: Engine, world: SnapshotWorld) -> None:
    spotchecks(engine, world, HIGH)  # kappa 0.8
    put(engine, 0.5, 20)
    job_id = submit(engine, world, gate=GatePolicy(0.75, 35))
    with Session(engine) as s:
        agreement = s.get_one(TrainingJob, job_id).provenance["agreement"]
        overrides = s.scalar(
            select(func.count(AuditEntry.id)).where(AuditEntry.action == "training.gate_override")
        )
    assert agreement["override"] is None and overrides == 0
    assert (agreement["min_kappa"], agreement["min_labels"]) == (0.75, 35)
    with pytest.raises(AgreementGateError, match="below the required 0.9"):
        submit(engine, world, gate=GatePolicy(0.9, 20))
