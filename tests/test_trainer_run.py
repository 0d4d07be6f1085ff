"""GRPO jobs as a worker runs them: claimed from Postgres, trained with TRL on a
tiny Qwen2 model (CPU, nothing downloaded), rewarded by the scripted judge over
real HTTP. Worker processes are real processes, killed and signalled for real.

Each step judges 4 completions (2 prompts x 2 generations), one judge request
each, so "the first request of step 2" is request number 5: the tests act there,
which puts a cancel, a SIGTERM or a SIGKILL in the middle of step 2.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from llm_server import Reply, ScriptedLLM
from rubricforge.models import AuditEntry, TrainingJob
from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.core.db import session_scope
from rubricforge.models.core.status import Status
from rubricforge.models.judging.rewards import rar_explicit_reward
from rubricforge.models.training.jobs import job_metrics, last_samples, request_cancel, submit_job
from rubricforge.models.training.worker_policy import MODELS_ENV, RUNS_DIR_ENV
from rubricforge.trainer.tiny import build_tiny_model
from rubricforge.trainer.worker import Worker
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from test_trainer_queue import make_snapshot

pytestmark = [pytest.mark.db, pytest.mark.slow]
torch.set_num_threads(1)

PER_STEP = 4  # completions judged per optimizer step


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-qwen2"))


def allow_tiny(monkeypatch: pytest.MonkeyPatch, tiny_model: Path, tmp_path: Path) -> Path:
    """The workers' allowlist (this process's and the ones it spawns): the tiny model as
    `tiny`, a folder that does not exist as `missing`; outputs under tmp_path/runs."""
    missing = tmp_path / "no-such-model"
    monkeypatch.setenv(MODELS_ENV, f"tiny={tiny_model},missing={missing}")
    monkeypatch.setenv(RUNS_DIR_ENV, str(tmp_path / "runs"))
    return tmp_path / "runs"


@pytest.fixture(autouse=True)
def runs(monkeypatch: pytest.MonkeyPatch, tiny_model: Path, tmp_path: Path) -> Path:
    return allow_tiny(monkeypatch, tiny_model, tmp_path)


def _coin(text: str, salt: object) -> bool:
    return hashlib.sha256(f"{salt}|{text}".encode()).digest()[0] % 2 == 1


def judge_reply(body: dict[str, Any]) -> Reply:
    """A judge that reads the request: one verdict per criterion (explicit) or a rating
    (implicit), each a deterministic coin flip on the request text, so completions
    of one prompt get different rewards and GRPO has a gradient."""
    text = body["messages"][1]["content"]
    found = re.search(r"RUBRIC \((\d+) criteria\)", text)
    if found is None:
        return Reply.json({"rating": 1 + int(hashlib.sha256(text.encode()).digest()[0]) % 10})
    n = int(found.group(1))
    return Reply.json(
        {
            "verdicts": [
                {"index": i, "met": _coin(text, i), "rationale": "r"} for i in range(1, n + 1)
            ]
        }
    )


class Judge:
    """The scripted judge server, with a hook that runs once on the Nth request."""

    def __init__(self, server: ScriptedLLM, reply: Callable[[dict[str, Any]], Reply] = judge_reply):
        self.server, self.reply, self.count = server, reply, 0
        self._hooks: dict[int, Callable[[], None]] = {}
        self._lock = threading.Lock()
        server.respond_with(self._respond)

    def on_request(self, number: int, hook: Callable[[], None]) -> None:
        self._hooks[number] = hook

    def _respond(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.count += 1
            hook = self._hooks.pop(self.count, None)
        if hook is not None:
            hook()
        return self.reply(body)

    def spec(self, mode: str = "explicit") -> dict[str, Any]:
        return {
            "base_url": self.server.base_url,
            "model": "judge-m",
            "mode": mode,
            "api_key_env": "none",
        }


@pytest.fixture
def judge(llm_server: ScriptedLLM) -> Judge:
    return Judge(llm_server)


@pytest.fixture
def snapshot_id(engine: Engine, rar_sample: Path) -> int:
    return make_snapshot(engine, rar_sample)


def submit(
    engine: Engine,
    snapshot_id: int,
    model: str,
    server: Judge,
    run_name: str | None,
    mode: str = "explicit",
    **overrides: Any,
) -> int:
    """`model`: a name on the workers' allowlist (`allow_tiny`); the outputs go to
    <runs>/<job id>-<run_name>."""
    config = {
        "model_name_or_path": model,
        "judge": server.spec(mode),
        "run_name": run_name,
        "num_generations": 2,
        "per_device_train_batch_size": PER_STEP,
        "gradient_accumulation_steps": 1,
        "max_steps": 3,
        "max_completion_length": 8,
        "learning_rate": 1e-3,
        "warmup_ratio": 0.0,
        "gradient_checkpointing": False,
        **overrides,
    }
    with session_scope(engine) as s:
        # No spot-checks on this snapshot; the agreement gate is tested in test_gate.py.
        return submit_job(
            s, actor=OPERATOR, snapshot_id=snapshot_id, config=config,
            override_reason="trainer test: no spot-check labels",
        )  # fmt: skip


def job(engine: Engine, job_id: int) -> TrainingJob:
    with Session(engine) as s:
        return s.get_one(TrainingJob, job_id)


def steps(engine: Engine, job_id: int) -> list[int]:
    with session_scope(engine) as s:
        return [step for step, _ in job_metrics(s, job_id)]


def spawn_worker(
    db_url: str, log: Path, *args: str, launcher: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": db_url, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, *(launcher or ("-m",)), "rubricforge.cli", "worker", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait(proc: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"worker did not exit:\n{log.read_text()[-3000:]}")


# --- a job from queue to trained model -------------------------------------------


def test_job_trains_to_success_with_metrics(
    engine: Engine,
    snapshot_id: int,
    tiny_model: Path,
    judge: Judge,
    tmp_path: Path,
    runs: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    job_id = submit(engine, snapshot_id, "tiny", judge, "out", beta=0.04)
    worker = Worker(engine, "w1", lease_seconds=60)

    assert worker.run_once() is True
    assert worker.run_once() is False  # nothing left

    row = job(engine, job_id)
    assert (row.status, row.error, row.attempts) == (Status.succeeded, None, 1)
    out = runs / f"{job_id}-out"  # under the worker's own runs folder, never a config's path
    assert row.output_uri == str(out)
    assert (out / "model.safetensors").exists()
    assert (out / "tokenizer.json").exists()
    assert judge.count == 3 * PER_STEP  # every completion judged once
    # The judge's connections stay open from step to step (kept clients on TRL's
    # reward loop), and are closed when the run ends.
    assert len({r.peer for r in judge.server.chat_requests}) <= PER_STEP
    gc.collect()
    assert "Unclosed" not in caplog.text
    launch = row.provenance["launch"]
    assert launch["rows_sha256"] == row.provenance["snapshot"]["sha256"]
    assert launch["judge_template_hash"] == row.provenance["judge"]["template_hash"]

    with session_scope(engine) as s:
        metrics = job_metrics(s, job_id)
        step, samples = last_samples(s, job_id)
    assert [step for step, _ in metrics] == [1, 2, 3]
    for _, values in metrics:
        for key in (
            "reward",
            "reward_std",
            "kl",
            "completions/mean_length",
            "step_time",
            "judge/latency_ms_mean",
            "rubric/essential_met_rate",
            "rubric/pitfall_hit_rate",
        ):
            assert key in values, key
        assert values["judge/failures"] == 0 and values["judge/completions"] == PER_STEP
    assert metrics[-1][1]["judge/completions_total"] == 3 * PER_STEP
    # The samples' rewards are RaR Eq. 1 over their own verdicts.
    assert step == 3 and len(samples) == PER_STEP
    for sample in samples:
        weights = [v["weight"] for v in sample["verdicts"]]
        met = [v["met"] for v in sample["verdicts"]]
        assert sample["reward"] == pytest.approx(rar_explicit_reward(weights, met))
    with Session(engine) as s:
        actions = s.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.entity == "training_job", AuditEntry.entity_id == str(job_id))
            .order_by(AuditEntry.id)
        ).all()
    assert actions == [
        "training.submit", "training.gate_override", "training.claim", "training.succeeded",
    ]  # fmt: skip


def test_an_implicit_job_reports_category_rates_from_an_explicit_sample(
    engine: Engine, snapshot_id: int, tiny_model: Path, judge: Judge, runs: Path
) -> None:
    spec = {**judge.spec(), "preset": "implicit", "category_sample": 2}
    del spec["mode"]
    job_id = submit(engine, snapshot_id, "tiny", judge, "implicit", judge=spec, max_steps=2)
    assert Worker(engine, "w1", lease_seconds=60).run_once() is True
    row = job(engine, job_id)
    assert (row.status, row.error) == (Status.succeeded, None)
    assert row.provenance["judge"]["preset"] == "implicit"
    # Per step: PER_STEP ratings for the reward, 2 explicit judgments for the rates.
    assert judge.count == 2 * (PER_STEP + 2)
    with session_scope(engine) as s:
        metrics = job_metrics(s, job_id)
        _, samples = last_samples(s, job_id)
    for _, values in metrics:
        assert values["rubric/rated_completions"] == 2
        assert 0 <= values["rubric/essential_met_rate"] <= 1
        assert 0 <= values["rubric/pitfall_hit_rate"] <= 1
    # The reward stayed the rating's: (rating - 1) / 9, no verdicts.
    for sample in samples:
        assert sample["reward"] == pytest.approx((sample["rating"] - 1) / 9)
        assert sample["verdicts"] == []


def test_failed_judgments_get_the_fallback_and_are_counted(
    engine: Engine, snapshot_id: int, tiny_model: Path, llm_server: ScriptedLLM, tmp_path: Path
) -> None:
    judge = Judge(llm_server, reply=lambda _body: Reply.text("no JSON here"))
    job_id = submit(
        engine,
        snapshot_id,
        "tiny",
        judge,
        "out",
        max_steps=2,
        judge={**judge.spec(), "fallback_reward": 0.25, "max_failure_rate": 1.0},
    )
    Worker(engine, "w1", lease_seconds=60).run_once()

    assert job(engine, job_id).status is Status.succeeded
    with session_scope(engine) as s:
        metrics = dict(job_metrics(s, job_id))
    assert metrics[1]["reward"] == pytest.approx(0.25)
    assert metrics[1]["judge/failures"] == PER_STEP
    assert metrics[2]["judge/failures_total"] == 2 * PER_STEP


def test_too_many_failed_judgments_fail_the_job(
    engine: Engine,
    snapshot_id: int,
    tiny_model: Path,
    llm_server: ScriptedLLM,
    tmp_path: Path,
    runs: Path,
) -> None:
    judge = Judge(llm_server, reply=lambda _body: Reply.text("no JSON here"))
    job_id = submit(engine, snapshot_id, "tiny", judge, "out")
    Worker(engine, "w1", lease_seconds=60).run_once()

    row = job(engine, job_id)
    assert row.status is Status.failed
    assert row.error.startswith(f"the judge failed on {PER_STEP} of {PER_STEP} completions")
    assert not (runs / f"{job_id}-out" / "model.safetensors").exists()


def test_missing_api_key_fails_the_job_with_the_variable_named(
    engine: Engine,
    snapshot_id: int,
    tiny_model: Path,
    judge: Judge,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RF_TEST_JUDGE_KEY", raising=False)
    job_id = submit(
        engine,
        snapshot_id,
        "tiny",
        judge,
        "out",
        judge={**judge.spec(), "api_key_env": "RF_TEST_JUDGE_KEY"},
    )
    Worker(engine, "w1", lease_seconds=60).run_once()

    row = job(engine, job_id)
    assert row.status is Status.failed
    assert "RF_TEST_JUDGE_KEY is not set" in row.error
    assert judge.count == 0


def test_a_base_model_the_worker_cannot_find_fails_the_job_clearly(
    engine: Engine, snapshot_id: int, judge: Judge, tmp_path: Path
) -> None:
    job_id = submit(engine, snapshot_id, "missing", judge, "out")
    Worker(engine, "w1", lease_seconds=60).run_once()

    row = job(engine, job_id)
    assert row.status is Status.failed
    missing = tmp_path / "no-such-model"
    assert row.error.startswith(f"base model 'missing' ({missing}) could not be loaded")
    assert judge.count == 0


# --- stopping -----------------------------------------------------------------------


def test_cancel_is_honoured_at_the_end_of_the_step_in_progress(
    engine: Engine, snapshot_id: int, tiny_model: Path, judge: Judge, tmp_path: Path
) -> None:
    job_id = submit(engine, snapshot_id, "tiny", judge, "out", max_steps=50)

    def cancel() -> None:
        with session_scope(engine) as s:
            request_cancel(s, job_id, actor=OPERATOR)

    judge.on_request(PER_STEP + 1, cancel)  # during step 2
    Worker(engine, "w1", lease_seconds=60).run_once()

    row = job(engine, job_id)
    assert row.status is Status.cancelled
    assert row.error == "cancelled by request after step 2"
    assert steps(engine, job_id) == [1, 2]
    assert judge.count == 2 * PER_STEP  # step 3 never started


def test_sigterm_checkpoints_requeues_and_the_next_worker_resumes(
    engine: Engine,
    db_url: str,
    snapshot_id: int,
    tiny_model: Path,
    judge: Judge,
    tmp_path: Path,
    runs: Path,
) -> None:
    job_id = submit(engine, snapshot_id, "tiny", judge, "out", max_steps=4, max_attempts=1)
    out = runs / f"{job_id}-out"
    log = tmp_path / "worker.log"
    proc = spawn_worker(db_url, log, "--once", "--worker-id", "w-term")
    judge.on_request(PER_STEP + 1, lambda: proc.send_signal(signal.SIGTERM))

    assert wait(proc, log) == 0, log.read_text()[-3000:]
    row = job(engine, job_id)
    assert (row.status, row.attempts, row.worker_id) == (Status.queued, 0, None)
    assert row.error == (
        "worker w-term stopped by SIGTERM after step 2; checkpoint saved; the next claim "
        "resumes from it"
    )
    assert (out / "checkpoint-2").is_dir()
    assert steps(engine, job_id) == [1, 2]

    Worker(engine, "w2", lease_seconds=60).run_once()
    row = job(engine, job_id)
    assert (row.status, row.attempts) == (Status.succeeded, 1)
    assert row.provenance["launch"]["number"] == 2
    assert steps(engine, job_id) == [1, 2, 3, 4]  # resumed at 3, not restarted
    assert judge.count == 4 * PER_STEP


def test_sigkilled_worker_loses_its_lease_and_the_job_is_claimed_again(
    engine: Engine,
    db_url: str,
    snapshot_id: int,
    tiny_model: Path,
    judge: Judge,
    tmp_path: Path,
) -> None:
    job_id = submit(engine, snapshot_id, "tiny", judge, "out", max_steps=3)
    log = tmp_path / "worker.log"
    proc = spawn_worker(
        db_url,
        log,
        "--once",
        "--worker-id",
        "w-killed",
        "--lease-seconds",
        "3",
        "--heartbeat-seconds",
        "1",
    )
    judge.on_request(PER_STEP + 1, proc.kill)
    assert wait(proc, log) == -signal.SIGKILL
    assert job(engine, job_id).status is Status.running  # nobody said otherwise

    rescuer = Worker(engine, "w-rescue", lease_seconds=60)
    deadline = time.monotonic() + 60
    while not rescuer.run_once():  # refused until the dead worker's lease expires
        assert time.monotonic() < deadline, "the job was never claimed again"
        time.sleep(0.5)

    row = job(engine, job_id)
    assert (row.status, row.attempts, row.worker_id) == (Status.succeeded, 2, "w-rescue")
    assert steps(engine, job_id) == [1, 2, 3]  # the dead attempt's rows were replaced
    with Session(engine) as s:
        claims = s.scalars(
            select(AuditEntry.details)
            .where(AuditEntry.action == "training.claim")
            .order_by(AuditEntry.id)
        ).all()
    assert claims == [
        {"attempt": 1, "reclaimed_from": None},
        {"attempt": 2, "reclaimed_from": "w-killed"},
    ]


# --- many workers -------------------------------------------------------------------


def test_four_worker_processes_claim_twenty_jobs_exactly_once(
    engine: Engine,
    db_url: str,
    snapshot_id: int,
    tiny_model: Path,
    judge: Judge,
    tmp_path: Path,
) -> None:
    ids = [
        submit(
            engine,
            snapshot_id,
            "tiny",
            judge,
            f"out-{i}",
            mode="implicit",
            max_steps=1,
        )
        for i in range(20)
    ]
    logs = [tmp_path / f"worker-{n}.log" for n in range(4)]
    procs = [
        spawn_worker(db_url, log, "--exit-when-idle", "--worker-id", f"w{n}")
        for n, log in enumerate(logs)
    ]
    for proc, log in zip(procs, logs, strict=True):
        assert wait(proc, log, timeout=280) == 0, log.read_text()[-3000:]

    with Session(engine) as s:
        jobs = s.scalars(select(TrainingJob).where(TrainingJob.id.in_(ids))).all()
        claims = s.execute(
            select(AuditEntry.entity_id, AuditEntry.actor).where(
                AuditEntry.action == "training.claim"
            )
        ).all()
    assert all(j.status is Status.succeeded and j.attempts == 1 for j in jobs)
    assert sorted(int(job_id) for job_id, _ in claims) == sorted(ids)
    assert {j.worker_id for j in jobs} <= {f"w{n}" for n in range(4)}
    # Each step: PER_STEP ratings (the reward) and PER_STEP explicit judgments of the
    # per-category sample (category_sample 8 covers the whole step).
    assert judge.count == 20 * 2 * PER_STEP
    by_worker = {actor: sum(1 for _, a in claims if a == actor) for _, actor in claims}
    print(f"claims per worker: {json.dumps(by_worker, sort_keys=True)}")


def test_one_job_over_two_processes_as_torchrun_starts_it(
    engine: Engine,
    db_url: str,
    snapshot_id: int,
    tiny_model: Path,
    judge: Judge,
    tmp_path: Path,
    runs: Path,
) -> None:
    """The multi-GPU shape (accelerate launch / torchrun), on CPU with gloo: rank 0
    claims and reports, both ranks train and judge their half of every step."""
    job_id = submit(
        engine,
        snapshot_id,
        "tiny",
        judge,
        "out",
        per_device_train_batch_size=PER_STEP // 2,
        num_processes=2,
    )
    log = tmp_path / "torchrun.log"
    launcher = ("-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m")
    proc = spawn_worker(db_url, log, "--once", "--worker-id", "w-dist", launcher=launcher)
    assert wait(proc, log) == 0, log.read_text()[-3000:]

    row = job(engine, job_id)
    assert (row.status, row.attempts, row.worker_id) == (Status.succeeded, 1, "w-dist")
    assert (runs / f"{job_id}-out" / "model.safetensors").exists()
    with session_scope(engine) as s:
        metrics = job_metrics(s, job_id)
    assert [step for step, _ in metrics] == [1, 2, 3]  # written once, by rank 0
    assert [v["judge/completions"] for _, v in metrics] == [PER_STEP] * 3  # summed over ranks
    assert metrics[-1][1]["judge/completions_total"] == 3 * PER_STEP
    assert judge.count == 3 * PER_STEP
    with Session(engine) as s:
        claims = s.scalars(select(AuditEntry.id).where(AuditEntry.action == "training.claim")).all()
    assert len(claims) == 1
