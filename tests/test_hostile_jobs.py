"""No role escapes: a job config is an allowlist. Every hostile field is
refused at submit with a clear message (nothing queued), and again when a worker
claims a job that got into the table another way: the job is failed with the
reason and the worker serves the next one. No training here (the worker's claim
is the queue's, with the worker's policy)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from rubricforge.models import AuditEntry, TrainingJob
from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.core.db import session_scope
from rubricforge.models.core.errors import RubricforgeError
from rubricforge.models.core.status import Status
from rubricforge.models.training.config import JobConfigError, parse_job_config
from rubricforge.models.training.jobs import submit_job
from rubricforge.models.training.queue import Queue
from rubricforge.models.training.trl_args import ALLOWED, check_trl_args
from rubricforge.models.training.worker_policy import (
    MODELS_ENV,
    RUNS_DIR_ENV,
    WorkerPolicy,
    parse_model_entries,
)
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from test_trainer_queue import NO_SPOTCHECKS, job_config, make_snapshot

REMOTE = "trust_remote_code is never allowed"

# (what a hostile researcher sets, the field named in the refusal, words in it)
HOSTILE: list[tuple[dict[str, Any], str, str]] = [
    (
        {"trl_args": {"model_init_kwargs": {"trust_remote_code": True}}},
        "trl_args.model_init_kwargs.trust_remote_code",
        REMOTE,
    ),
    ({"judge": {"trust_remote_code": True}}, "judge.trust_remote_code", REMOTE),
    (
        {"trl_args": {"model_init_kwargs": {"revision": "x"}}},
        "trl_args",
        "model_init_kwargs is not allowed",
    ),
    (
        {"trl_args": {"generation_kwargs": {"custom_generate": "evil/repo"}}},
        "trl_args",
        "generation_kwargs is not allowed",
    ),
    ({"trl_args": {"deepspeed": "/etc/ds.json"}}, "trl_args", "deepspeed is not allowed"),
    ({"trl_args": {"top_p": 7}}, "trl_args", "top_p must be a number in (0, 1], got 7"),
    ({"output_dir": "~/.ssh"}, "output_dir", "outputs always go under the worker's runs folder"),
    ({"run_name": "../../etc"}, "run_name", "outputs always go under the worker's runs folder"),
    ({"run_name": "/tmp/x"}, "run_name", "a run name is 1-64 letters"),
    ({"model_name_or_path": "/home/alice/model"}, "model_name_or_path", "paths are not accepted"),
    ({"model_name_or_path": "~/model"}, "model_name_or_path", "paths are not accepted"),
    ({"model_name_or_path": "org/../../x"}, "model_name_or_path", "paths are not accepted"),
    ({"num_processes": 99999999999}, "num_processes", "less than or equal to 4096"),
    ({"num_generations": 10**6}, "num_generations", "less than or equal to 1024"),
    ({"per_device_train_batch_size": 10**9}, "per_device_train_batch_size", "less than or equal"),
    ({"gradient_accumulation_steps": 10**9}, "gradient_accumulation_steps", "less than or equal"),
    ({"max_steps": 10**12}, "max_steps", "less than or equal"),
    ({"max_completion_length": 10**9}, "max_completion_length", "less than or equal"),
    ({"temperature": 1e9}, "temperature", "less than or equal"),
    ({"beta": 1e9}, "beta", "less than or equal"),
    ({"logging_steps": 10**12}, "logging_steps", "less than or equal"),
    ({"save_steps": 10**12}, "save_steps", "less than or equal"),
    ({"seed": -1}, "seed", "greater than or equal to 0"),
    ({"seed": 2**40}, "seed", "less than or equal"),
    ({"max_attempts": 10**6}, "max_attempts", "less than or equal"),
    ({"learning_rate": math.inf}, "learning_rate", "finite"),
    ({"judge": {"concurrency": 10**9}}, "judge.concurrency", "less than or equal"),
    ({"judge": {"timeout": math.nan}}, "judge.timeout", "finite"),
]
IDS = [f"{n}-{field}" for n, (_, field, _) in enumerate(HOSTILE)]


def hostile(change: dict[str, Any]) -> dict[str, Any]:
    config = job_config()
    for key, value in change.items():
        if key == "judge":
            config["judge"] = {**config["judge"], **value}
        else:
            config[key] = value
    return config


@pytest.mark.parametrize("change, field, words", HOSTILE, ids=IDS)
def test_each_hostile_field_is_refused_with_its_reason(
    change: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(JobConfigError) as err:
        parse_job_config(hostile(change))
    problems = dict(err.value.problems)
    assert field in problems, problems
    assert words in problems[field]


def test_the_allowlist_passes_plain_settings_and_names_what_is_allowed() -> None:
    cfg = parse_job_config(
        job_config(run_name="qwen7b-rar", trl_args={"top_p": 0.9, "num_iterations": 2})
    )
    assert (cfg.run_name, cfg.trl_args) == ("qwen7b-rar", {"top_p": 0.9, "num_iterations": 2})
    (problem,) = check_trl_args({"use_liger_kernel": True})
    assert problem.startswith("use_liger_kernel is not allowed in trl_args; allowed: adam_beta1")
    assert check_trl_args({"scale_rewards": 1}) == [
        "scale_rewards must be one of group, batch, none, True, False"
    ]


def test_every_allowed_trl_arg_is_a_grpo_config_field() -> None:
    dataclasses = pytest.importorskip("dataclasses")
    trl = pytest.importorskip("trl")
    fields = {f.name for f in dataclasses.fields(trl.GRPOConfig)}
    assert set(ALLOWED) <= fields


def test_worker_policy_reads_its_allowlist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_model_entries(["Qwen/Qwen2.5-7B, tiny=/models/tiny", "b=/x"]) == {
        "Qwen/Qwen2.5-7B": "Qwen/Qwen2.5-7B",
        "tiny": "/models/tiny",
        "b": "/x",
    }
    with pytest.raises(RubricforgeError, match="NAME=/absolute/folder"):
        parse_model_entries(["tiny=relative/folder"])
    monkeypatch.setenv(MODELS_ENV, "Qwen/Qwen2.5-7B")
    monkeypatch.setenv(RUNS_DIR_ENV, str(tmp_path / "runs"))
    policy = WorkerPolicy.from_env(models=["tiny=/models/tiny"])
    assert policy.models == {"Qwen/Qwen2.5-7B": "Qwen/Qwen2.5-7B", "tiny": "/models/tiny"}
    cfg = parse_job_config(job_config(run_name="r1"))
    assert policy.output_dir(7, cfg) == tmp_path / "runs" / "7-r1"
    assert policy.output_dir(7, parse_job_config(job_config())) == tmp_path / "runs" / "7"
    with pytest.raises(
        JobConfigError, match="'other' is not a model this worker runs; allowed: Qwen"
    ):
        policy.model_source("other")


# --- on a real database: refused at submit, and again at claim ---------------------


@pytest.fixture
def snapshot_id(engine: Engine, rar_sample: Path) -> int:
    return make_snapshot(engine, rar_sample)


def jobs_count(engine: Engine) -> int:
    with Session(engine) as s:
        return s.scalar(select(func.count()).select_from(TrainingJob)) or 0


def submit(engine: Engine, snapshot_id: int, config: dict[str, Any]) -> int:
    with session_scope(engine) as s:
        return submit_job(
            s, actor=OPERATOR, snapshot_id=snapshot_id, config=config, override_reason=NO_SPOTCHECKS
        )


@pytest.mark.db
@pytest.mark.parametrize("change, field, words", HOSTILE, ids=IDS)
def test_hostile_config_is_refused_at_submit_and_again_at_claim(
    engine: Engine, snapshot_id: int, tmp_path: Path, change: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(JobConfigError) as err:
        submit(engine, snapshot_id, hostile(change))
    assert words in dict(err.value.problems)[field] and "nothing was queued" in str(err.value)
    assert jobs_count(engine) == 0

    # The same config put in the table behind the service's back, then a good job.
    config = hostile(change)
    with session_scope(engine) as s:
        bad = TrainingJob(snapshot_id=snapshot_id, config=_json_safe(config), max_attempts=3)
        s.add(bad)
        s.flush()
        bad_id = bad.id
    good_id = submit(engine, snapshot_id, job_config())

    policy = WorkerPolicy(runs_dir=tmp_path / "runs", models={"tiny": "tiny"})
    claimed = Queue(engine, "w1").claim(60, policy=policy)
    assert claimed is not None and claimed.id == good_id  # the worker went on to the next job
    with Session(engine) as s:
        row = s.get_one(TrainingJob, bad_id)
        failed = s.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "training.failed", AuditEntry.entity_id == str(bad_id))
        )
    assert row.status is Status.failed and row.finished_at is not None
    assert row.error.startswith("refused by worker w1 at claim: ")
    assert field in row.error and _claim_words(words) in row.error
    assert failed == 1


def _json_safe(config: dict[str, Any]) -> dict[str, Any]:
    """JSONB holds no inf/NaN: store those as the strings a client could send instead."""

    def fix(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        return value

    return fix(config)


def _claim_words(words: str) -> str:
    return "number" if words == "finite" else words  # "inf" arrives as a string


@pytest.mark.db
def test_a_model_off_the_workers_allowlist_is_refused_at_submit_and_at_claim(
    engine: Engine, snapshot_id: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MODELS_ENV, "tiny=/models/tiny")  # the app knows the workers' list
    with pytest.raises(JobConfigError, match="'evil/model' is not a model this worker runs"):
        submit(engine, snapshot_id, job_config(model_name_or_path="evil/model"))
    assert jobs_count(engine) == 0

    monkeypatch.delenv(MODELS_ENV)  # an app that does not know it queues the job...
    bad_id = submit(engine, snapshot_id, job_config(model_name_or_path="evil/model"))
    good_id = submit(engine, snapshot_id, job_config())
    policy = WorkerPolicy(runs_dir=tmp_path / "runs", models={"tiny": "/models/tiny"})
    claimed = Queue(engine, "w1").claim(60, policy=policy)  # ...and the worker refuses it
    assert claimed is not None and claimed.id == good_id
    with Session(engine) as s:
        row = s.get_one(TrainingJob, bad_id)
    assert row.status is Status.failed
    assert "'evil/model' is not a model this worker runs; allowed: tiny" in row.error


@pytest.mark.db
def test_an_unreadable_job_is_failed_and_the_queue_keeps_moving(
    engine: Engine, snapshot_id: int, tmp_path: Path
) -> None:
    """A config that is not even a mapping, and one whose size no worker could match,
    no longer stop every worker's claim (the old `::int` cast raised for 99999999999)."""
    with session_scope(engine) as s:
        odd = [
            TrainingJob(snapshot_id=snapshot_id, config=["not", "a", "mapping"]),  # type: ignore[arg-type]
            TrainingJob(snapshot_id=snapshot_id, config={**job_config(), "num_processes": "two"}),
            TrainingJob(
                snapshot_id=snapshot_id, config={**job_config(), "num_processes": 99999999999}
            ),
        ]
        s.add_all(odd)
        s.flush()
        odd_ids = [j.id for j in odd]
    good_id = submit(engine, snapshot_id, job_config())
    policy = WorkerPolicy(runs_dir=tmp_path / "runs", models={"tiny": "tiny"})
    queue = Queue(engine, "w1")
    assert queue.claim(60, policy=policy).id == good_id  # type: ignore[union-attr]
    assert queue.claim(60, policy=policy) is None
    with Session(engine) as s:
        rows = [s.get_one(TrainingJob, i) for i in odd_ids]
    assert [r.status for r in rows] == [Status.failed] * 3
    assert "config: must be a mapping of settings, got list" in rows[0].error
    assert "num_processes: " in rows[1].error
    assert "num_processes: Input should be less than or equal to 4096" in rows[2].error
