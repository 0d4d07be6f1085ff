"""Jobs and the queue on a real Postgres: submit, cancel, claim exactly once, leases,
attempts, heartbeats. No training here (see test_trainer_run.py)."""

from __future__ import annotations

import itertools
import json
import threading
from pathlib import Path

import pytest
from rubricforge.models import (
    AuditEntry,
    Criterion,
    Dataset,
    Prompt,
    Rubric,
    RubricStatus,
    RubricVersion,
    TrainingJob,
    VersionSource,
)
from rubricforge.models.accounts.orm import Role
from rubricforge.models.accounts.permissions import OPERATOR, UserInfo
from rubricforge.models.core.db import session_scope
from rubricforge.models.core.errors import NotFoundError, PermissionDenied
from rubricforge.models.core.status import Status
from rubricforge.models.data.exporter import ExportFilter, create_snapshot
from rubricforge.models.judging.orm import JudgeMode
from rubricforge.models.judging.prompts import template_hash
from rubricforge.models.rubrics.criteria import (
    CriterionData,
    category_from_weight,
    content_hash,
    stable_key,
)
from rubricforge.models.training.config import JobConfigError
from rubricforge.models.training.jobs import (
    JobStateError,
    get_job,
    job_metrics,
    last_samples,
    list_jobs,
    request_cancel,
    submit_job,
)
from rubricforge.models.training.queue import Queue
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

pytestmark = pytest.mark.db

JUDGE = {"base_url": "http://127.0.0.1:9/v1", "model": "judge-m", "mode": "explicit"}


def researcher(name: str) -> UserInfo:
    """A named researcher acting outside the app (no account row needed)."""
    return UserInfo(id=None, username=name, role=Role.researcher)


def make_snapshot(engine: Engine, sample: Path, *, dataset: str = "med") -> int:
    """Approved rubrics for the RaR sample rows, frozen into a snapshot; its id."""
    rows = [json.loads(line) for line in sample.read_text().splitlines() if line.strip()]
    with Session(engine) as s, s.begin():
        ds = Dataset(name=dataset)
        s.add(ds)
        s.flush()
        for r in rows:
            prompt = Prompt(
                dataset_id=ds.id,
                external_id=r["uid"],
                question=r["question"],
                reference_answer=r["reference_answer"],
            )
            s.add(prompt)
            s.flush()
            crit = [
                CriterionData(
                    c["title"], c["description"], category_from_weight(c["weight"]), c["weight"]
                )
                for c in r["rubric"]
            ]
            rubric = Rubric(prompt_id=prompt.id, status=RubricStatus.approved)
            s.add(rubric)
            s.flush()
            version = RubricVersion(
                rubric_id=rubric.id,
                number=1,
                source=VersionSource.import_,
                content_hash=content_hash(crit),
            )
            s.add(version)
            s.flush()
            s.add_all(
                Criterion(
                    version_id=version.id,
                    position=i,
                    key=stable_key(r["uid"], str(i)),
                    title=c.title,
                    description=c.description,
                    category=c.category,
                    weight=c.weight,
                )
                for i, c in enumerate(crit)
            )
            rubric.head_version_id = version.id
            rubric.approved_version_id = version.id
    return create_snapshot(engine, ExportFilter(dataset=dataset), actor=OPERATOR).id


def job_config(**overrides: object) -> dict:
    return {
        "model_name_or_path": "tiny",
        "judge": dict(JUDGE),
        "num_generations": 2,
        "per_device_train_batch_size": 4,
        "gradient_accumulation_steps": 1,
        "max_steps": 2,
        **overrides,
    }


# The snapshot has no spot-checks; the agreement gate's own tests are in test_gate.py.
NO_SPOTCHECKS = "queue test: this snapshot has no spot-check labels"


RUNS = itertools.count(1)


def submit(engine: Engine, snapshot_id: int, **overrides: object) -> int:
    """Queue a job; each call is a distinct run (its own run_name), so two calls are two
    jobs, not a double click (see test_a_double_submit_queues_one_job)."""
    overrides.setdefault("run_name", f"run-{next(RUNS)}")
    with session_scope(engine) as s:
        return submit_job(
            s,
            actor=researcher("alice"),
            snapshot_id=snapshot_id,
            config=job_config(**overrides),
            override_reason=NO_SPOTCHECKS,
        )


def job(engine: Engine, job_id: int) -> TrainingJob:
    with Session(engine) as s:
        return s.get_one(TrainingJob, job_id)


def expire_lease(engine: Engine, job_id: int) -> None:
    """What a dead worker leaves behind once its lease period has passed."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE training_jobs SET lease_expires_at = now() - interval '1 second' "
                "WHERE id = :id"
            ),
            {"id": job_id},
        )


def counts(engine: Engine) -> tuple[int, int]:
    with Session(engine) as s:
        return (
            s.scalar(select(func.count(TrainingJob.id))) or 0,
            s.scalar(select(func.count(AuditEntry.id))) or 0,
        )


@pytest.fixture
def snapshot_id(engine: Engine, rar_sample: Path) -> int:
    return make_snapshot(engine, rar_sample)


# --- submitting ---------------------------------------------------------------


def test_submit_queues_a_validated_job_with_provenance(engine: Engine, snapshot_id: int) -> None:
    job_id = submit(engine, snapshot_id)
    row = job(engine, job_id)
    assert row.status is Status.queued and row.attempts == 0 and row.max_attempts == 3
    assert row.config["learning_rate"] == 5e-6  # defaults are stored, not implied
    with Session(engine) as s:
        sha = s.scalar(
            text("SELECT sha256 FROM export_snapshots WHERE id = :i"), {"i": snapshot_id}
        )
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "training.submit")).one()
    assert row.provenance["snapshot"]["sha256"] == sha
    assert row.provenance["judge"]["template_hash"] == template_hash(JudgeMode.explicit)
    assert row.provenance["judge"]["model"] == "judge-m"
    # The old mode explicit is recorded as the preset it means, with its weights.
    assert row.provenance["judge"]["preset"] == "rar_explicit_weights"
    assert row.provenance["judge"]["weights"] == {"source": "rubric"}
    assert (entry.actor, entry.entity_id) == ("alice", str(job_id))


def test_provenance_records_the_preset_and_the_category_map(
    engine: Engine, snapshot_id: int
) -> None:
    judge = {**JUDGE, "preset": "rar_explicit_categories"}
    judge.pop("mode", None)
    row = job(engine, submit(engine, snapshot_id, judge=judge))
    recorded = row.provenance["judge"]
    assert recorded["preset"] == "rar_explicit_categories"
    assert recorded["weights"]["map"] == {
        "Essential": 1.0, "Important": 0.7, "Optional": 0.3, "Pitfall": 0.9,
    }  # fmt: skip
    assert (recorded["mode"], recorded["aggregation"]) == ("explicit", "rar_explicit")
    assert row.config["judge"]["preset"] == "rar_explicit_categories"


def test_bad_config_queues_nothing(engine: Engine, snapshot_id: int) -> None:
    before = counts(engine)
    with pytest.raises(JobConfigError) as err, session_scope(engine) as s:
        submit_job(
            s,
            actor=researcher("alice"),
            snapshot_id=snapshot_id,
            config=job_config(per_device_train_batch_size=3),
        )
    assert "must be divisible by num_generations (2)" in str(err.value)
    assert counts(engine) == before


def test_unknown_snapshot_queues_nothing(engine: Engine, snapshot_id: int) -> None:
    before = counts(engine)
    with (
        pytest.raises(NotFoundError, match="export snapshot 999 does not exist"),
        session_scope(engine) as s,
    ):
        submit_job(s, actor=researcher("alice"), snapshot_id=999, config=job_config())
    assert counts(engine) == before


def test_a_user_who_may_not_train_queues_nothing(engine: Engine, snapshot_id: int) -> None:
    before = counts(engine)
    annotator = UserInfo(id=None, username="ann", role=Role.annotator)
    with pytest.raises(PermissionDenied, match="may not train"), session_scope(engine) as s:
        submit_job(s, actor=annotator, snapshot_id=snapshot_id, config=job_config())
    assert counts(engine) == before


# --- claiming -----------------------------------------------------------------


def test_oldest_job_first_and_nothing_left(engine: Engine, snapshot_id: int) -> None:
    first, second = submit(engine, snapshot_id), submit(engine, snapshot_id)
    queue = Queue(engine, "w1")
    claimed = queue.claim(lease_seconds=60)
    assert claimed is not None and claimed.id == first and claimed.attempt == 1
    assert claimed.provenance["snapshot"]["sha256"]
    assert queue.claim(60).id == second  # type: ignore[union-attr]
    assert queue.claim(60) is None
    row = job(engine, first)
    assert (row.status, row.worker_id) == (Status.running, "w1")
    assert row.started_at is not None and row.lease_expires_at > row.heartbeat_at


def test_threads_racing_claim_each_job_exactly_once(engine: Engine, snapshot_id: int) -> None:
    ids = {submit(engine, snapshot_id) for _ in range(12)}
    got: dict[str, list[int]] = {}
    start = threading.Barrier(6)

    def worker(name: str) -> None:
        queue = Queue(engine, name)
        start.wait()
        mine = got.setdefault(name, [])
        while (claimed := queue.claim(60)) is not None:
            mine.append(claimed.id)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [j for jobs in got.values() for j in jobs]
    assert sorted(claimed) == sorted(ids)


def test_a_worker_takes_only_jobs_sized_for_its_processes(engine: Engine, snapshot_id: int) -> None:
    eight = submit(
        engine,
        snapshot_id,
        num_processes=8,
        per_device_train_batch_size=1,
        gradient_accumulation_steps=1,
    )
    one = submit(engine, snapshot_id)
    assert Queue(engine, "single-gpu").claim(60).id == one  # type: ignore[union-attr]
    assert Queue(engine, "single-gpu").claim(60) is None
    assert Queue(engine, "8-gpu").claim(60, processes=8).id == eight  # type: ignore[union-attr]


def test_expired_lease_is_reclaimed_and_the_old_worker_is_fenced(
    engine: Engine, snapshot_id: int
) -> None:
    job_id = submit(engine, snapshot_id)
    old, new = Queue(engine, "old"), Queue(engine, "new")
    assert old.claim(60).id == job_id  # type: ignore[union-attr]
    assert new.claim(60) is None  # the lease still holds
    expire_lease(engine, job_id)
    again = new.claim(60)
    assert again is not None and again.id == job_id and again.attempt == 2
    assert again.reclaimed_from == "old"
    assert "worker old stopped renewing its lease" in (job(engine, job_id).error or "")
    # The old worker, if it wakes up, can no longer touch the job.
    assert old.heartbeat(job_id, 60).owned is False
    assert old.finish(job_id, Status.succeeded) is False
    old.write_metric(job_id, 1, {"reward": 1.0})
    with session_scope(engine) as s:
        assert job_metrics(s, job_id) == []
    assert new.finish(job_id, Status.succeeded, output_uri="/runs/1") is True
    assert job(engine, job_id).status is Status.succeeded


def test_attempts_run_out_then_failed_with_the_error_kept(engine: Engine, snapshot_id: int) -> None:
    job_id = submit(engine, snapshot_id, max_attempts=2)
    queue = Queue(engine, "w")
    for _ in range(2):
        assert queue.claim(60).id == job_id  # type: ignore[union-attr]
        expire_lease(engine, job_id)
    assert queue.claim(60) is None
    row = job(engine, job_id)
    assert row.status is Status.failed and row.attempts == 2 and row.finished_at
    assert row.error.startswith("gave up after 2 attempt(s): worker w stopped renewing")
    assert "earlier: worker w stopped renewing its lease" in row.error


def test_heartbeat_renews_the_lease(engine: Engine, snapshot_id: int) -> None:
    job_id = submit(engine, snapshot_id)
    queue = Queue(engine, "w")
    queue.claim(lease_seconds=1)
    before = job(engine, job_id).lease_expires_at
    beat = queue.heartbeat(job_id, lease_seconds=600)
    assert beat.owned and not beat.cancel_requested
    assert job(engine, job_id).lease_expires_at > before


def test_requeue_gives_the_claim_back(engine: Engine, snapshot_id: int) -> None:
    job_id = submit(engine, snapshot_id, max_attempts=1)
    queue = Queue(engine, "w")
    queue.claim(60)
    assert queue.requeue(job_id, "worker w stopped by SIGTERM after step 3")
    row = job(engine, job_id)
    assert (row.status, row.attempts, row.worker_id) == (Status.queued, 0, None)
    assert queue.claim(60).attempt == 1  # type: ignore[union-attr]  # not used up


# --- cancelling ---------------------------------------------------------------


def test_cancel_a_queued_job_at_once(engine: Engine, snapshot_id: int) -> None:
    job_id = submit(engine, snapshot_id)
    with session_scope(engine) as s:
        assert request_cancel(s, job_id, actor=researcher("bob")) is Status.cancelled
    assert Queue(engine, "w").claim(60) is None
    assert job(engine, job_id).finished_at is not None


def test_cancel_a_running_job_reaches_its_worker(engine: Engine, snapshot_id: int) -> None:
    job_id = submit(engine, snapshot_id)
    queue = Queue(engine, "w")
    queue.claim(60)
    with session_scope(engine) as s:
        assert request_cancel(s, job_id, actor=researcher("bob")) is Status.running
    assert queue.heartbeat(job_id, 60).cancel_requested
    assert queue.cancel_requested(job_id).cancel_requested
    with session_scope(engine) as s:
        actions = s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions[-2:] == ["training.claim", "training.cancel"]


def test_cancelled_job_of_a_dead_worker_ends_cancelled(engine: Engine, snapshot_id: int) -> None:
    job_id = submit(engine, snapshot_id)
    Queue(engine, "dead").claim(60)
    with session_scope(engine) as s:
        request_cancel(s, job_id, actor=researcher("bob"))
    expire_lease(engine, job_id)
    assert Queue(engine, "w").claim(60) is None
    assert job(engine, job_id).status is Status.cancelled


def test_cancel_errors(engine: Engine, snapshot_id: int) -> None:
    job_id = submit(engine, snapshot_id)
    queue = Queue(engine, "w")
    queue.claim(60)
    queue.finish(job_id, Status.succeeded)
    before = counts(engine)
    with (
        pytest.raises(JobStateError, match="already succeeded; there is nothing to cancel"),
        session_scope(engine) as s,
    ):
        request_cancel(s, job_id, actor=researcher("bob"))
    with (
        pytest.raises(NotFoundError, match="training job 404 does not exist"),
        session_scope(engine) as s,
    ):
        request_cancel(s, 404, actor=researcher("bob"))
    assert counts(engine) == before


# --- reading ------------------------------------------------------------------


def test_list_jobs_and_metrics(engine: Engine, snapshot_id: int) -> None:
    first, second = submit(engine, snapshot_id), submit(engine, snapshot_id)
    queue = Queue(engine, "w")
    queue.claim(60)
    sample = {"prompt": "q", "completion": "a", "reward": 0.5, "verdicts": []}
    queue.write_metric(first, 2, {"reward": 0.5, "samples": [sample]})
    queue.write_metric(first, 1, {"reward": 0.25})
    with session_scope(engine) as s:
        jobs = list_jobs(s)
        assert [j.id for j in jobs] == [second, first]  # newest first
        assert (jobs[1].last_step, jobs[1].status, jobs[1].base_model) == (
            2,
            Status.running,
            "tiny",
        )
        assert jobs[0].last_step is None
        assert job_metrics(s, first) == [(1, {"reward": 0.25}), (2, {"reward": 0.5})]
        assert last_samples(s, first) == (2, [sample])
        assert last_samples(s, second) == (None, [])
        assert get_job(s, first).snapshot_id == snapshot_id
        assert [j.id for j in list_jobs(s, status=Status.queued)] == [second]
        with pytest.raises(NotFoundError):
            job_metrics(s, 404)


# --- the CLI ------------------------------------------------------------------


def test_cli_submit_list_cancel(
    db_url: str, engine: Engine, snapshot_id: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from rubricforge.cli import app

    monkeypatch.setenv("DATABASE_URL", db_url)
    config = tmp_path / "job.yaml"
    config.write_text(
        "model_name_or_path: Qwen/Qwen2.5-0.5B\nnum_generations: 2\n"
        "per_device_train_batch_size: 4\ngradient_accumulation_steps: 1\n"
        "judge:\n  base_url: http://127.0.0.1:8000/v1\n  model: judge-m\n"
    )
    runner = CliRunner()
    run = runner.invoke(
        app,
        [
            "train",
            "submit",
            "--snapshot",
            str(snapshot_id),
            "--config",
            str(config),
            "--set",
            "max_steps=7",
            "--set",
            "judge.mode=explicit",
            "--override-reason",
            NO_SPOTCHECKS,
        ],
    )
    assert run.exit_code == 0, run.output
    assert "queued: Qwen/Qwen2.5-0.5B, 7 steps on snapshot" in run.output
    assert "reward preset: rar_explicit_weights" in run.output
    with Session(engine) as s:
        [job_id] = [j.id for j in list_jobs(s)]
    # --set judge.mode=explicit, the older way to say it, is stored as its preset.
    assert job(engine, job_id).config["judge"]["preset"] == "rar_explicit_weights"

    listed = runner.invoke(app, ["train", "list"])
    assert listed.exit_code == 0 and f"{job_id:>5}  queued" in listed.output
    assert "0/7" in listed.output

    cancelled = runner.invoke(app, ["train", "cancel", str(job_id)])
    assert cancelled.exit_code == 0 and f"job {job_id} cancelled" in cancelled.output
    again = runner.invoke(app, ["train", "cancel", str(job_id)])
    assert again.exit_code == 1 and "already cancelled" in again.output
    assert "Traceback" not in again.output


def test_cli_refuses_a_bad_config_with_every_problem(
    db_url: str, engine: Engine, snapshot_id: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    from typer.testing import CliRunner

    from rubricforge.cli import app

    monkeypatch.setenv("DATABASE_URL", db_url)
    config = tmp_path / "job.json"
    config.write_text('{"num_generations": 3, "per_device_train_batch_size": 4}')
    before = counts(engine)
    run = CliRunner().invoke(
        app, ["train", "submit", "--snapshot", str(snapshot_id), "--config", str(config)]
    )
    assert run.exit_code == 1
    assert "model_name_or_path: required" in run.output
    assert "judge: required" in run.output
    assert counts(engine) == before
    bad = tmp_path / "bad.yaml"
    bad.write_text("judge: [unclosed")
    run = CliRunner().invoke(
        app, ["train", "submit", "--snapshot", str(snapshot_id), "--config", str(bad)]
    )
    assert run.exit_code == 1 and "not valid YAML" in run.output
    run = CliRunner().invoke(
        app, ["train", "submit", "--snapshot", str(snapshot_id), "--set", "max_steps"]
    )
    assert run.exit_code == 1 and "write settings as KEY=VALUE" in run.output


def test_nul_characters_in_model_output_are_replaced_not_fatal(
    engine: Engine, snapshot_id: int
) -> None:
    """Postgres refuses U+0000 in text and JSONB: one in a completion used to fail the
    step's metrics insert and kill the job. Replaced with U+FFFD, keys included."""
    job_id = submit(engine, snapshot_id)
    queue = Queue(engine, "w1")
    assert queue.claim(60) is not None
    sample = {"completion": "a\x00b", "verdicts": {"crit\x00key": ["met\x00"]}}
    queue.write_metric(job_id, 1, {"reward": 0.5, "samples": [sample]})
    queue.add_provenance(job_id, {"launch": {"note": "x\x00y"}})
    assert queue.finish(job_id, Status.failed, error="judge said \x00") is True

    with session_scope(engine) as s:
        step, samples = last_samples(s, job_id)
        row = s.get_one(TrainingJob, job_id)
        assert (step, samples) == (
            1,
            [{"completion": "a\ufffdb", "verdicts": {"crit\ufffdkey": ["met\ufffd"]}}],
        )
        assert row.provenance["launch"] == {"note": "x\ufffdy"}
        assert (row.status, row.error) == (Status.failed, "judge said \ufffd")


def test_a_double_submit_queues_one_job(engine: Engine, snapshot_id: int) -> None:
    """A double click (two reruns with the same input) must not queue two jobs: the
    same user, snapshot and config within the window get the job already queued."""
    first = submit(engine, snapshot_id, run_name="same")
    assert submit(engine, snapshot_id, run_name="same") == first
    with Session(engine) as s:
        submits = s.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "training.submit")
        )
    assert (counts(engine)[0], submits) == (1, 1)
    # Another config is another job; so is the same one once the first has ended...
    other = submit(engine, snapshot_id, run_name="same", max_steps=3)
    assert other != first
    with session_scope(engine) as s:
        request_cancel(s, other, actor=OPERATOR)
    again = submit(engine, snapshot_id, run_name="same", max_steps=3)
    assert again not in (first, other)
    # ...or once the window has passed.
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE training_jobs SET created_at = now() - interval '1 minute' WHERE id = :i"),
            {"i": first},
        )
    assert submit(engine, snapshot_id, run_name="same") not in (first, other, again)


def test_racing_double_submits_queue_one_job(engine: Engine, snapshot_id: int) -> None:
    start = threading.Barrier(4)
    ids: list[int] = []

    def click() -> None:
        start.wait()
        ids.append(submit(engine, snapshot_id, run_name="raced"))

    threads = [threading.Thread(target=click) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 4 and len(set(ids)) == 1
    assert counts(engine)[0] == 1
