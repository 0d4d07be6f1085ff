"""The agreement gate on a real Postgres: a job on a snapshot whose judge disagrees with
the annotators, or rests on too few labels, is refused and nothing is queued; a
researcher may override with a reason, which the job and the audit log keep."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rubricforge.models import AuditEntry, TrainingJob
from rubricforge.models.accounts.orm import Role
from rubricforge.models.accounts.permissions import OPERATOR, UserInfo
from rubricforge.models.core.db import session_scope
from rubricforge.models.core.errors import InvalidInputError
from rubricforge.models.data.exporter import ExportFilter, create_snapshot
from rubricforge.models.judging.orm import JudgeMode
from rubricforge.models.judging.prompts import template_hash
from rubricforge.models.rubrics.orm import Rubric
from rubricforge.models.training.config import JudgeSpec
from rubricforge.models.training.gate import (
    EXACT,
    SAME_MODEL,
    AgreementGateError,
    GatePolicy,
    family_warnings,
    measure_agreement,
)
from rubricforge.models.training.jobs import submit_job
from rubricforge.models.training.thresholds import set_thresholds
from sklearn.metrics import cohen_kappa_score
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from training_support import (
    JUDGE_MODEL,
    SnapshotWorld,
    confusion,
    judge_run,
    labels,
    new_version,
    response,
    seed_snapshot,
    spotchecks,
    user,
    verdicts,
)
from typer.testing import CliRunner

pytestmark = pytest.mark.db

# 40 items: 15 agree met, 15 agree not met, 5 each way apart. Observed agreement 0.75,
# chance 0.5 (both say met half the time): kappa = (0.75 - 0.5) / 0.5 = 0.5.
LOW = confusion(tn=15, fp=5, fn=5, tp=15)
# 18 + 18 agree, 2 + 2 apart: observed 0.9, chance 0.5, kappa 0.8.
HIGH = confusion(tn=18, fp=2, fn=2, tp=18)


def researcher(name: str) -> UserInfo:
    """A named researcher acting outside the app (no account row needed)."""
    return UserInfo(id=None, username=name, role=Role.researcher)


def config(mode: str = "explicit", **judge: Any) -> dict[str, Any]:
    return {
        "model_name_or_path": "tiny",
        "judge": {"base_url": "http://127.0.0.1:9/v1", "model": JUDGE_MODEL, "mode": mode, **judge},
        "num_generations": 2,
        "per_device_train_batch_size": 4,
        "gradient_accumulation_steps": 1,
        "max_steps": 2,
    }


def counts(engine: Engine) -> tuple[int, int]:
    with Session(engine) as s:
        return (
            s.scalar(select(func.count(TrainingJob.id))) or 0,
            s.scalar(select(func.count(AuditEntry.id))) or 0,
        )


def submit(engine: Engine, world: SnapshotWorld, **kw: Any) -> int:
    cfg = kw.pop("cfg", None) or config()
    with session_scope(engine) as s:
        return submit_job(
            s, actor=researcher("rita"), snapshot_id=world.snapshot_id, config=cfg, **kw
        )


def report(engine: Engine, world: SnapshotWorld, mode: str = "explicit", **policy: Any):  # noqa: ANN201
    spec = JudgeSpec.model_validate(config(mode)["judge"])
    with Session(engine) as s:
        return measure_agreement(s, world.snapshot_id, spec, GatePolicy(**policy))


@pytest.fixture
def world(engine: Engine) -> SnapshotWorld:
    return seed_snapshot(engine, prompts=6, criteria=8)  # 48 criteria


def test_kappa_below_the_threshold_refuses_and_queues_nothing(
    engine: Engine, world: SnapshotWorld
) -> None:
    spotchecks(engine, world, LOW)
    before = counts(engine)
    with pytest.raises(AgreementGateError) as err:
        submit(engine, world)
    message = str(err.value)
    assert "Cohen's kappa 0.50" in message and "below the required 0.6" in message
    assert "judge judge-m (explicit" in message and "Nothing was queued" in message
    assert "--override-reason" in message
    assert counts(engine) == before
    got = err.value.report
    judge = [j for j, _ in LOW]
    human = [h for _, h in LOW]
    assert got.kappa == pytest.approx(cohen_kappa_score(human, judge)) == pytest.approx(0.5)
    assert (got.n_items, got.n_labels, got.basis) == (40, 40, EXACT)
    assert got.kappa_low is not None and got.kappa_low < 0.5 < got.kappa_high


def test_too_few_labels_refuse_even_when_they_all_agree(
    engine: Engine, world: SnapshotWorld
) -> None:
    spotchecks(engine, world, confusion(tn=10, fp=0, fn=0, tp=10))
    before = counts(engine)
    with pytest.raises(AgreementGateError, match=r"only 20 labelled item\(s\).*at least 30"):
        submit(engine, world)
    assert counts(engine) == before
    # The minimum is the admins' to set.
    with session_scope(engine) as s:
        set_thresholds(s, actor=OPERATOR, min_kappa=0.6, min_labels=20)
    job_id = submit(engine, world)
    with Session(engine) as s:
        stored = s.get_one(TrainingJob, job_id).provenance["agreement"]
    assert (stored["kappa"], stored["n_items"], stored["min_labels"]) == (1.0, 20, 20)


def test_no_labels_at_all_refuse_with_the_count(engine: Engine, world: SnapshotWorld) -> None:
    with pytest.raises(AgreementGateError) as err:
        submit(engine, world)
    assert "only 0 labelled item(s)" in str(err.value)
    assert err.value.report.kappa is None and err.value.report.basis is None


def test_agreement_above_the_threshold_queues_with_the_report_in_provenance(
    engine: Engine, world: SnapshotWorld
) -> None:
    run_id = spotchecks(engine, world, HIGH)
    job_id = submit(engine, world)
    with Session(engine) as s:
        job = s.get_one(TrainingJob, job_id)
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "training.submit")).one()
        overrides = s.scalar(
            select(func.count(AuditEntry.id)).where(AuditEntry.action == "training.gate_override")
        )
    agreement = job.provenance["agreement"]
    assert agreement["passed"] is True and agreement["override"] is None
    assert agreement["kappa"] == pytest.approx(0.8)
    assert (agreement["n_items"], agreement["min_kappa"], agreement["min_labels"]) == (40, 0.6, 30)
    assert agreement["run_ids"] == [run_id] and agreement["basis"] == EXACT
    assert agreement["template_hash"] == template_hash(JudgeMode.explicit)
    assert entry.details["agreement"]["kappa"] == pytest.approx(0.8)
    assert overrides == 0
    # The caller may raise the bar: the same labels fail a stricter one.
    with pytest.raises(AgreementGateError, match="below the required 0.9"):
        submit(engine, world, gate=GatePolicy(min_kappa=0.9))


def test_an_override_queues_the_job_and_records_who_and_why(
    engine: Engine, world: SnapshotWorld
) -> None:
    spotchecks(engine, world, LOW)
    rita = user(engine, Role.researcher, "rita")
    reason = "pilot run; the pitfall criteria are being relabelled this week"
    with session_scope(engine) as s:
        job_id = submit_job(
            s,
            actor=UserInfo(id=rita, username="rita", role=Role.researcher),
            snapshot_id=world.snapshot_id,
            config=config(),
            override_reason=f"  {reason} ",
        )
    with Session(engine) as s:
        job = s.get_one(TrainingJob, job_id)
        entry = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "training.gate_override")
        ).one()
    agreement = job.provenance["agreement"]
    assert agreement["passed"] is False and agreement["kappa"] == pytest.approx(0.5)
    assert agreement["override"]["reason"] == reason
    assert (agreement["override"]["by"], agreement["override"]["user_id"]) == ("rita", rita)
    assert (entry.actor, entry.user_id, entry.entity_id) == ("rita", rita, str(job_id))
    assert entry.details["reason"] == reason
    assert "below the required 0.6" in entry.details["problems"][0]


def test_a_blank_override_reason_is_no_override(engine: Engine, world: SnapshotWorld) -> None:
    spotchecks(engine, world, LOW)
    before = counts(engine)
    with pytest.raises(AgreementGateError):
        submit(engine, world, override_reason="   ")
    assert counts(engine) == before


def test_labels_outside_the_snapshot_and_other_judges_do_not_count(
    engine: Engine, world: SnapshotWorld
) -> None:
    spotchecks(engine, world, HIGH)
    # Another dataset's rubrics, with the same judge disagreeing everywhere.
    other = seed_snapshot(engine, dataset="sci", prompts=6, criteria=8)
    spotchecks(engine, other, confusion(tn=0, fp=20, fn=20, tp=0))
    # Another judge model on this snapshot, disagreeing everywhere.
    spotchecks(engine, world, confusion(tn=0, fp=20, fn=20, tp=0), model="other-judge")
    got = report(engine, world)
    assert (got.n_items, got.kappa) == (40, pytest.approx(0.8))


def test_labels_on_an_earlier_version_with_the_same_key_count(engine: Engine) -> None:
    # The labels were made on version 1; version 2 (same keys, edited titles) is frozen.
    first = seed_snapshot(engine, dataset="draft", prompts=5, criteria=8)
    spotchecks(engine, first, HIGH)
    with session_scope(engine) as s:
        for row in first.prompts:
            version_id, _ = new_version(engine, row)
            rubric = s.get_one(Rubric, row.rubric_id)
            rubric.head_version_id = rubric.approved_version_id = version_id
    frozen = create_snapshot(engine, ExportFilter(dataset="draft"), name="v2", actor=OPERATOR)
    later = SnapshotWorld(frozen.id, "draft", first.prompts)
    got = report(engine, later)
    assert (got.n_items, got.kappa) == (40, pytest.approx(0.8))


def test_an_implicit_judge_is_measured_by_the_same_model_judging_explicitly(
    engine: Engine, world: SnapshotWorld
) -> None:
    spotchecks(engine, world, HIGH)
    got = report(engine, world, mode="implicit")
    assert got.basis == SAME_MODEL and got.kappa == pytest.approx(0.8)
    assert got.template_hash == template_hash(JudgeMode.implicit)
    # The exact template wins when it has pairs: an explicit per-criterion run that
    # disagrees more is what a per-criterion job is measured by.
    spotchecks(engine, world, LOW, template=template_hash(JudgeMode.explicit, True))
    exact = report(engine, world)
    per_criterion = JudgeSpec.model_validate({**config()["judge"], "per_criterion": True})
    with Session(engine) as s:
        mine = measure_agreement(s, world.snapshot_id, per_criterion)
    assert exact.kappa == pytest.approx(0.8) and mine.kappa == pytest.approx(0.5)
    assert mine.basis == EXACT


def test_adjudication_and_the_newest_run_decide_an_item(
    engine: Engine, world: SnapshotWorld
) -> None:
    crit = world.prompts[0].criterion_ids[:4]
    rid = response(engine, world.prompts[0].prompt_id)
    old, new = judge_run(engine), judge_run(engine)
    verdicts(engine, old, rid, dict.fromkeys(crit, False))
    verdicts(engine, new, rid, {crit[0]: True, crit[1]: True, crit[2]: False, crit[3]: False})
    ann, bob, cat, lead = (user(engine) for _ in range(4))
    # crit 0, 1: two say met, one not -> met; crit 2: 1 vs 1, adjudicated not met;
    # crit 3: 1 vs 1, unresolved.
    labels(engine, ann, rid, {crit[0]: True, crit[1]: True, crit[2]: True, crit[3]: True})
    labels(engine, bob, rid, {crit[0]: True, crit[1]: False, crit[2]: False, crit[3]: False})
    labels(engine, cat, rid, {crit[0]: False, crit[1]: True})
    labels(engine, lead, rid, {crit[2]: False}, final=True)
    got = report(engine, world, min_labels=1)
    # Items: (met, met), (met, met), (not, not): perfect agreement on three items.
    assert (got.n_items, got.n_unresolved, got.n_labels) == (3, 1, 10)
    assert got.kappa == pytest.approx(1.0) and got.run_ids == [new]


def test_a_bad_policy_is_refused_with_the_range() -> None:
    with pytest.raises(InvalidInputError, match="between -1 and 1"):
        GatePolicy(min_kappa=1.5)
    with pytest.raises(InvalidInputError, match="at least 1"):
        GatePolicy(min_labels=0)


def test_cli_refuses_then_queues_with_an_override_reason(
    db_url: str,
    engine: Engine,
    world: SnapshotWorld,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:

    from rubricforge.cli import app

    monkeypatch.setenv("DATABASE_URL", db_url)
    spotchecks(engine, world, LOW)
    cfg = tmp_path / "job.yaml"
    cfg.write_text(
        "model_name_or_path: tiny\nnum_generations: 2\nper_device_train_batch_size: 4\n"
        f"gradient_accumulation_steps: 1\njudge:\n  base_url: http://127.0.0.1:9/v1\n"
        f"  model: {JUDGE_MODEL}\n  mode: explicit\n"
    )
    base = ["train", "submit", "--snapshot", str(world.snapshot_id), "--config", str(cfg)]
    before = counts(engine)
    refused = CliRunner().invoke(app, base)
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "Cohen's kappa 0.50" in refused.output and "--override-reason" in refused.output
    assert counts(engine) == before
    # Lowering the admins' bar is an override too: refused without a reason.
    lower = CliRunner().invoke(app, [*base, "--min-kappa", "0.4"])
    assert lower.exit_code == 1 and "Lowering the bar is an override" in lower.output
    assert counts(engine) == before
    lower = CliRunner().invoke(app, [*base, "--min-kappa", "0.4", "--override-reason", "pilot"])
    assert lower.exit_code == 0, lower.output
    assert "agreement: kappa 0.50" in lower.output and "override: pilot" in lower.output
    forced = CliRunner().invoke(app, [*base, "--override-reason", "known disagreement on pitfalls"])
    assert forced.exit_code == 0, forced.output
    assert "override: known disagreement on pitfalls" in forced.output
    with Session(engine) as s:
        jobs = s.scalars(select(TrainingJob).order_by(TrainingJob.id)).all()
    overrides = [j.provenance["agreement"]["override"] for j in jobs]
    assert overrides[0]["lowered"] == {"min_kappa": 0.4, "min_labels": 30}
    assert overrides[1]["lowered"] is None and overrides[1]["reason"].startswith("known")
    assert jobs[0].provenance["agreement"]["min_kappa"] == 0.4


def test_a_judge_of_the_policys_family_is_a_warning_not_a_refusal(
    engine: Engine, world: SnapshotWorld
) -> None:
    spotchecks(engine, world, HIGH)
    same = config()
    same["model_name_or_path"] = "judge-m-7b-instruct"  # JUDGE_MODEL is "judge-m"
    job_id = submit(engine, world, cfg=same)
    other_id = submit(engine, world, cfg=config())  # "tiny": another family
    with Session(engine) as s:
        warned = s.get_one(TrainingJob, job_id).provenance["agreement"]
        quiet = s.get_one(TrainingJob, other_id).provenance["agreement"]
    assert warned["passed"] is True and warned["override"] is None
    assert len(warned["warnings"]) == 1
    assert "both of the judge-m family" in warned["warnings"][0]
    assert quiet["warnings"] == []
    assert family_warnings("gpt-4o-mini-2024-07-18", "openai/gpt-4o") != []
    assert family_warnings("gpt-4o-mini", "Qwen/Qwen2.5-7B") == []
    assert family_warnings("gpt-4o-mini", None) == []
