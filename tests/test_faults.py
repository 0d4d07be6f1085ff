"""Faults, for real: PostgreSQL restarted under the running app and a training
worker; an LLM endpoint that is down (connection refused), slow (past the client's
timeout) or flaky (429, 500, then fine) while drafting, judging and rewarding; an
export folder on a read-only or a full filesystem; two people saving one rubric.

Covered elsewhere and not repeated here:
- LLM client: malformed JSON re-asked, schema breaks, 429/500 retried, timeouts
  (test_llm.py); drafting with malformed / schema-breaking / 429-500 / always-500
  / too-slow replies (test_drafting.py, test_webapp_drafting.py); judging with
  429/500 and invalid JSON (test_judge.py, test_judge_runs.py: failed judgments
  recorded, never defaulted);
- training: judge garbage gets the fallback reward and is counted, too much of it
  fails the job, SIGTERM / SIGKILL / lost leases (test_trainer_run.py,
  test_trainer_queue.py);
- export: a read-only (immutable) folder and a write failing midway at the service
  level (test_export.py); a stale save against a service-level save
  (test_webapp_editor.py).
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from browser import StreamlitApp, free_port
from faults_support import Throwaway, closed_port_url, wait_for
from llm_server import Reply, ScriptedLLM, rubric_items
from rubricforge.models import (
    AuditEntry,
    Criterion,
    Dataset,
    ExportSnapshot,
    Prompt,
    Rubric,
    RubricVersion,
    TrainingJob,
    TrainingMetric,
)
from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.core.db import get_engine, session_scope
from rubricforge.models.core.errors import ExportError
from rubricforge.models.core.status import Status
from rubricforge.models.data.exporter import create_snapshot, write_snapshot
from rubricforge.models.data.importer import import_file
from rubricforge.models.judging.judge import Judge, JudgeConfig
from rubricforge.models.judging.orm import JudgeRun, Judgment, LLMCache, Verdict
from rubricforge.models.judging.responses import import_responses
from rubricforge.models.judging.runs import run_judge, run_progress
from rubricforge.models.llm.config import EndpointConfig
from rubricforge.models.llm.endpoints import check_endpoint, save_endpoint
from rubricforge.models.rubrics.drafting import draft_dataset
from rubricforge.models.training.queue import Queue
from rubricforge.trainer.reward import RewardStats, make_reward_func
from rubricforge.trainer.tiny import build_tiny_model
from rubricforge.trainer.worker import Worker
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session
from test_drafting import add_dataset
from test_export import ALL, approve_all, read_tree
from test_judge_runs import all_met
from test_trainer_queue import make_snapshot
from test_trainer_queue import submit as queue_submit
from test_trainer_reward import call, verdicts
from test_trainer_run import PER_STEP, allow_tiny, spawn_worker, submit
from test_trainer_run import Judge as ScriptedJudge
from test_webapp_editor import edit, editor, saved
from typer.testing import CliRunner
from webapp_support import add_account, app_as, click, has, shown, widget

from rubricforge.cli import app

pytestmark = pytest.mark.db
DRAFT = Reply.json(rubric_items(9))


# --- PostgreSQL restarted under the app and a worker -------------------------------


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-qwen2"))


@pytest.fixture
def pg() -> Iterator[Throwaway]:
    server = Throwaway()
    yield server
    server.close()


def healthy(app: StreamlitApp) -> bool:
    with urllib.request.urlopen(f"{app.url}/_stcore/health", timeout=5) as r:
        return r.read().strip() == b"ok"


def save_weight(at: Any, row: int, weight: int) -> None:
    """The expert changes one weight in the editor and saves."""
    edit(at, edited_rows={row: {"weight": weight}})
    widget(at, "text_input", "Note for this version").input(f"weight {weight}")
    click(at, "Save version")


def job_row(engine: Engine, job_id: int) -> TrainingJob:
    with Session(engine) as s:
        return s.get_one(TrainingJob, job_id)


def test_postgres_restarts_under_the_app_and_a_worker_lose_nothing(
    pg: Throwaway,
    rar_sample: Path,
    tiny_model: Path,
    llm_server: ScriptedLLM,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The test's own engine; the page below uses the app's (webapp/db.py, cached).
    engine = create_engine(pg.url, pool_pre_ping=True)
    snapshot_id = make_snapshot(engine, rar_sample)
    expert = add_account(pg.url, "expert1", "expert")
    with Session(engine) as s:
        prompt = s.scalars(select(Prompt.id).order_by(Prompt.external_id)).first()

    app = StreamlitApp({"DATABASE_URL": pg.url}, tmp_path / "app.log")
    worker_log = tmp_path / "worker.log"
    allow_tiny(monkeypatch, tiny_model, tmp_path)  # the worker runs `tiny`
    worker = spawn_worker(
        pg.url, worker_log, "--worker-id", "w-pg", "--lease-seconds", "30",
        "--heartbeat-seconds", "0.5", "--poll-interval", "0.2",
    )  # fmt: skip
    try:
        # The page in this process, on the app's cached engine, as a browser session keeps it.
        monkeypatch.setenv("DATABASE_URL", pg.url)
        st.cache_resource.clear()
        page = app_as(expert, "views/editor.py", {"prompt": str(prompt)})
        wait_for("the worker to poll", lambda: "polling for jobs" in worker_log.read_text())

        # 1. Down while the app serves and the worker polls an empty queue.
        pg.stop()
        down = app_as(expert, "views/editor.py", {"prompt": str(prompt)})
        assert shown(down, "error", "Cannot reach the database")
        assert healthy(app)
        wait_for("a failed poll", lambda: "cannot poll for jobs" in worker_log.read_text())
        pg.start()

        # The same page session saves after the restart, on the same cached engine.
        save_weight(page, 0, 4)
        assert shown(page, "success", "Saved version 2.")
        assert healthy(app) and worker.poll() is None, worker_log.read_text()[-3000:]

        # 2. Down again in the middle of training step 2, until the worker has failed
        # to renew its lease and to write the step's metrics (then retried them).
        judge = ScriptedJudge(llm_server)
        job_id = submit(engine, snapshot_id, "tiny", judge, "out")
        outage: list[Any] = []

        def failed_writes() -> bool:
            log = worker_log.read_text()
            return "heartbeat failed" in log and "metrics of step 2: database unreachable" in log

        judge.on_request(PER_STEP + 1, lambda: outage.append(pg.outage(until=failed_writes)))

        def finished() -> TrainingJob | None:
            assert worker.poll() is None, worker_log.read_text()[-3000:]
            row = job_row(engine, job_id)
            return row if row.status not in (Status.queued, Status.running) else None

        done = wait_for("the job to finish", finished, timeout=120)
        log = worker_log.read_text()
        assert outage, "the outage never happened (the judge was not asked)"
        outage[0].join()
        assert (done.status, done.error, done.attempts) == (Status.succeeded, None, 1), log
        with Session(engine) as s:
            steps = s.scalars(
                select(TrainingMetric.step)
                .where(TrainingMetric.job_id == job_id)
                .order_by(TrainingMetric.step)
            ).all()
        assert steps == [1, 2, 3], log  # every step's row, once: none lost, none doubled
        assert failed_writes(), log
        assert worker.poll() is None, log  # still polling for the next job

        # The app writes again after the second restart.
        save_weight(page, 0, 3)
        assert shown(page, "success", "Saved version 3.")
        with Session(engine) as s:
            assert s.scalar(select(func.count()).select_from(RubricVersion)) == 3 + 2
        assert healthy(app) and app.process.poll() is None

        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0, worker_log.read_text()[-3000:]
        assert "stopped after 1 job(s)" in worker_log.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        app.stop()
        st.cache_resource.clear()
        get_engine(pg.url).dispose()  # the pool the app's pages used
        engine.dispose()


# --- the worker's writes and polls while the database is away (no processes) ------


def test_a_metric_write_repeated_after_a_lost_connection_keeps_one_row(
    engine: Engine, rar_sample: Path
) -> None:
    """A write whose commit was lost with the connection is sent again: the row is
    replaced, never doubled."""
    job_id = queue_submit(engine, make_snapshot(engine, rar_sample))
    queue = Queue(engine, "w1")
    assert queue.claim(60) is not None
    queue.write_metric(job_id, 1, {"reward": 0.1})
    queue.write_metric(job_id, 1, {"reward": 0.2})
    queue.write_metric(job_id, 2, {"reward": 0.3})
    with Session(engine) as s:
        rows = s.execute(
            select(TrainingMetric.step, TrainingMetric.values)
            .where(TrainingMetric.job_id == job_id)
            .order_by(TrainingMetric.step)
        ).all()
    assert [tuple(r) for r in rows] == [(1, {"reward": 0.2}), (2, {"reward": 0.3})]


def test_worker_writes_retry_while_the_database_is_unreachable_then_give_up(
    engine: Engine, rar_sample: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gone = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/rf")
    queue = Queue(gone, "w1", retry_seconds=1.0)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, "rubricforge.worker"), pytest.raises(OperationalError):
        queue.write_metric(1, 1, {"reward": 0.5})
    assert time.monotonic() - started >= 0.5  # tried at 0, 0.2 and 0.6 s; then gave up
    retries = [r.getMessage() for r in caplog.records if "database unreachable" in r.getMessage()]
    assert len(retries) == 2, retries
    assert retries[0].startswith("job 1: metrics of step 1: database unreachable")

    # A poll that cannot reach the database is a warning and "nothing claimed", not a crash,
    worker = Worker(gone, "w-idle", lease_seconds=5)
    assert worker.run_once() is False
    assert "cannot poll for jobs: database unreachable" in caplog.text
    # and never an empty queue: with exit_when_idle the worker keeps polling, backing
    # off, and exits only once the database answers that there is no job.
    caplog.clear()
    ran: list[int] = []
    loop = threading.Thread(
        target=lambda: ran.append(worker.run_forever(0.01, exit_when_idle=True)), daemon=True
    )
    loop.start()
    deadline = time.monotonic() + 20
    while caplog.text.count("cannot poll for jobs") < 3:
        assert time.monotonic() < deadline, caplog.text
        time.sleep(0.05)
    assert loop.is_alive(), "the worker took an outage for an empty queue and exited"
    waits = [r.getMessage() for r in caplog.records if "next poll in" in r.getMessage()]
    assert waits[:3] == [f"worker w-idle: next poll in {s} s" for s in ("0.2", "0.4", "0.8")]
    worker.queue.engine = engine  # the database is back (the same server, reachable again)
    loop.join(timeout=20)
    assert not loop.is_alive() and ran == [0]
    gone.dispose()

    # An error that is not about reaching the database is raised at once, not retried.
    queue = Queue(engine, "w1", retry_seconds=30)
    job_id = queue_submit(engine, make_snapshot(engine, rar_sample))
    assert queue.claim(60) is not None
    caplog.clear()
    started = time.monotonic()
    with pytest.raises(DBAPIError):
        queue.write_metric(job_id, 1, {"reward": float("nan")})  # JSON has no NaN
    assert time.monotonic() - started < 5 and "database unreachable" not in caplog.text


# --- an LLM endpoint that is down, slow, or flaky ----------------------------------


def fast_endpoint(base_url: str, model: str = "m", **kw: Any) -> EndpointConfig:
    """Short timeouts and one retry, so a failing endpoint is given up quickly."""
    settings: dict[str, Any] = {
        "timeout": 0.5, "max_retries": 1, "reply_retries": 0,
        "backoff_initial": 0.01, "backoff_max": 0.05,
    }  # fmt: skip
    return EndpointConfig(base_url=base_url, model=model, api_key_env=None, **{**settings, **kw})


def fault_endpoint(
    fault: str, server: ScriptedLLM, respond: Callable[[dict[str, Any]], Reply]
) -> EndpointConfig:
    """down: nothing listens (connection refused); slow: every reply takes longer than
    the timeout; flaky: 429, then 500, then `respond`'s good replies."""
    if fault == "down":
        return fast_endpoint(closed_port_url())
    if fault == "slow":
        server.respond_with(lambda body: replace(respond(body), delay=2.0))
        return fast_endpoint(server.base_url)
    server.script(Reply.error(429, retry_after=0.01), Reply.error(500))
    server.respond_with(respond)
    return fast_endpoint(server.base_url, max_retries=2)


# What the message says: a refused connection is not called a timeout.
WHY = {
    "down": "the last: could not connect (Cannot connect to host 127.0.0.1",
    "slow": "the last: timed out",
}


@pytest.mark.parametrize("fault", ["down", "slow"])
def test_drafting_against_a_dead_endpoint_saves_nothing(
    engine: Engine, llm_server: ScriptedLLM, fault: str
) -> None:
    add_dataset(engine, 2)
    report = draft_dataset(
        engine, "med", fault_endpoint(fault, llm_server, lambda _body: DRAFT), concurrency=2
    )
    assert report.drafted == 0 and len(report.failures) == 2
    for failure in report.failures:
        assert f"failed 2 time(s), {WHY[fault]}" in failure.error, failure.error
        if fault == "down":
            assert "Check that the endpoint is up at http://127.0.0.1:" in failure.error
    assert "q0" in report.summary() and "q1" in report.summary()
    with Session(engine) as s:
        for model in (Rubric, RubricVersion, Criterion, AuditEntry):
            assert s.scalar(select(func.count()).select_from(model)) == 0, model


@pytest.fixture
def lone_prompt(app_db: str) -> tuple[int, int]:
    """(expert id, prompt id): one prompt without a rubric, for the editor's draft button."""
    expert = add_account(app_db, "expert1", "expert")
    eng = create_engine(app_db)
    with session_scope(eng) as s:
        ds = Dataset(name="med")
        s.add(ds)
        s.flush()
        prompt = Prompt(dataset_id=ds.id, external_id="q0", question="Question 0: dose of X?",
                        reference_answer="5 mg daily.")  # fmt: skip
        s.add(prompt)
        s.flush()
        prompt_id = prompt.id
    eng.dispose()
    return expert, prompt_id


@pytest.mark.parametrize("fault", ["down", "slow"])
def test_drafting_in_the_editor_against_a_dead_endpoint(
    app_db: str, lone_prompt: tuple[int, int], llm_server: ScriptedLLM, fault: str
) -> None:
    config = fault_endpoint(fault, llm_server, lambda _body: DRAFT)
    eng = create_engine(app_db)
    with session_scope(eng) as s:
        save_endpoint(s, OPERATOR, "local", base_url=config.base_url, model="qwen-local",
                      api_key_env=None, params={"timeout": 0.5, "max_retries": 1,
                      "backoff_initial": 0.01, "backoff_max": 0.05})  # fmt: skip
    expert, prompt = lone_prompt
    at = app_as(expert, "views/editor.py", {"prompt": str(prompt)})
    click(at, "Draft with LLM")
    assert shown(at, "error", f"qwen-local at {config.base_url} failed 2 time(s), {WHY[fault]}")
    assert not at.exception and has(at, "button", "Draft with LLM")  # try again later
    with Session(eng) as s:
        for model in (Rubric, RubricVersion, Criterion):
            assert s.scalar(select(func.count()).select_from(model)) == 0, model
    eng.dispose()


def test_the_admin_connection_check_says_a_down_endpoint_is_down() -> None:
    check = check_endpoint(OPERATOR, fast_endpoint(closed_port_url()))
    assert not check.ok and WHY["down"] in check.message and "timed out" not in check.message


@pytest.fixture
def one_response(engine: Engine, rar_sample: Path, tmp_path: Path) -> str:
    import_file(engine, rar_sample, "med", actor=OPERATOR)
    with Session(engine) as s:
        uid = s.scalars(select(Prompt.external_id).order_by(Prompt.external_id)).first()
    rows = tmp_path / "responses.jsonl"
    rows.write_text(json.dumps({"prompt_id": uid, "text": "an answer", "source": "a"}) + "\n")
    import_responses(engine, rows, "med", actor=OPERATOR)
    return "med"


@pytest.mark.parametrize("fault", ["down", "slow", "flaky"])
def test_judge_run_against_a_failing_endpoint(
    engine: Engine, one_response: str, llm_server: ScriptedLLM, fault: str
) -> None:
    config = JudgeConfig(fault_endpoint(fault, llm_server, all_met))
    report = run_judge(engine, config, dataset=one_response, actor=OPERATOR)
    with Session(engine) as s:
        judgment = s.execute(select(Judgment.ok, Judgment.reward, Judgment.error)).one()
        verdicts = s.execute(select(Verdict.ok, Verdict.met)).all()
        run = s.execute(select(JudgeRun.status, JudgeRun.error)).one()
        cached = s.scalar(select(func.count()).select_from(LLMCache))
    if fault == "flaky":
        assert (report.judged, report.failed) == (1, 0)
        assert judgment.ok and judgment.reward is not None and judgment.error is None
        assert run.status is Status.succeeded and cached == 1
        assert len(llm_server.chat_requests) == 3  # 429, 500, then the verdicts
        return
    # Failed, and recorded as failed: no reward, no verdict defaulted, nothing cached.
    assert (report.judged, report.failed) == (0, 1)
    assert judgment.ok is False and judgment.reward is None
    assert WHY[fault] in judgment.error, judgment.error
    assert verdicts and {tuple(v) for v in verdicts} == {(False, None)}
    assert run.status is Status.failed and cached == 0
    assert run_progress(engine, report.run_id)["failed"] == 1


@pytest.mark.parametrize("fault", ["down", "slow", "flaky"])
def test_training_reward_when_the_judge_fails(llm_server: ScriptedLLM, fault: str) -> None:
    """The reward a GRPO step gets (the worker's path; test_trainer_run.py shows a flagged
    step failing the job, and judge garbage getting the fallback)."""
    good = verdicts(True, True, True, False)
    judge = Judge(JudgeConfig(fault_endpoint(fault, llm_server, lambda _body: good), concurrency=4))
    stats = RewardStats()
    func_ = make_reward_func(judge, fallback_reward=0.1, max_failure_rate=0.25, stats=stats)
    rewards = call(func_, ["answer A", "answer B"])
    assert stats.last is not None
    if fault == "flaky":
        assert rewards == pytest.approx([1.0, 1.0]) and stats.last.failures == 0
        assert stats.abort is None
        return
    assert rewards == [0.1, 0.1] and stats.last.failures == 2
    assert stats.abort is not None
    assert stats.abort.startswith("the judge failed on 2 of 2 completions in one step")
    assert WHY[fault] in stats.abort and "Check the judge endpoint" in stats.abort


# --- exporting to a read-only folder or a full disk ---------------------------------


@pytest.fixture
def med(engine: Engine, rar_sample: Path) -> Engine:
    """The three real RaR-Medicine rows, imported and approved."""
    import_file(engine, rar_sample, "rar-medicine", actor=OPERATOR)
    approve_all(engine, "rar-medicine")
    return engine


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """mount(name, size, read_only): a small tmpfs of its own, unmounted at the end."""
    mounted: list[Path] = []

    def make(name: str, size: str = "48k", read_only: bool = False) -> Path:
        where = tmp_path / name
        where.mkdir()
        opts = f"size={size}" + (",ro" if read_only else "")
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)],
                             capture_output=True, text=True, check=False)  # fmt: skip
        if res.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {res.stderr.strip()}")
        mounted.append(where)
        return where

    yield make
    for where in mounted:
        subprocess.run(["umount", str(where)], capture_output=True, check=False)


def export_cli(db_url: str, *args: str) -> Any:
    return CliRunner().invoke(app, ["export", *args], env={"DATABASE_URL": db_url})


def test_export_to_a_full_disk_keeps_the_previous_export_whole(
    med: Engine, mount: Callable[..., Path]
) -> None:
    disk = mount("small-disk", "48k")  # room for the JSONL (16k), not for all four (84k)
    info = create_snapshot(med, ALL, actor=OPERATOR)
    out = disk / "snap"
    write_snapshot(med, info.id, out, formats=["jsonl"])
    before = read_tree(out)
    with pytest.raises(ExportError) as err:
        write_snapshot(med, info.id, out)
    assert f"cannot write snapshot {info.id} to {out}: No space left on device" in str(err.value)
    assert str(err.value).endswith("nothing was written")
    assert read_tree(out) == before  # the earlier export, as it was
    assert [p.name for p in disk.iterdir()] == ["snap"]  # no staging folder left behind


def test_cli_export_to_a_read_only_folder_freezes_nothing(
    med: Engine, db_url: str, mount: Callable[..., Path], tmp_path: Path
) -> None:
    ro = mount("read-only", read_only=True)
    result = export_cli(db_url, "--out", str(ro / "snap"))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    assert f"error: {ro} is not writable" in result.output
    assert "nothing was written" in result.output
    # So is a format nobody writes: before, either one left a snapshot with no files.
    bad = export_cli(db_url, "--out", str(tmp_path / "x"), "--formats", "jsonl,parquet")
    assert bad.exit_code == 1 and "error: unknown export format(s): parquet" in bad.output
    with Session(med) as s:
        assert s.scalar(select(func.count()).select_from(ExportSnapshot)) == 0
    assert list(ro.iterdir()) == [] and not (tmp_path / "x").exists()


def test_cli_export_to_a_full_disk_says_how_to_write_the_snapshot_again(
    med: Engine, db_url: str, mount: Callable[..., Path], tmp_path: Path
) -> None:
    disk = mount("small-disk", "16k")
    result = export_cli(db_url, "--out", str(disk / "snap"))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    with Session(med) as s:
        (snapshot_id,) = s.scalars(select(ExportSnapshot.id)).all()
    assert "No space left on device" in result.output and "nothing was written" in result.output
    again = f"rubricforge export --snapshot {snapshot_id} --out"
    assert again in result.output.replace("\n", " ")
    assert list(disk.iterdir()) == []
    # The frozen snapshot is whole: written elsewhere, it is complete.
    retry = export_cli(db_url, "--snapshot", str(snapshot_id), "--out", str(tmp_path / "ok"))
    assert retry.exit_code == 0, retry.output
    manifest = json.loads((tmp_path / "ok" / "manifest.json").read_text())
    assert manifest["snapshot_id"] == snapshot_id and manifest["row_count"] == 3


# --- two people saving one rubric ---------------------------------------------------


def test_two_editors_save_one_rubric_the_second_is_refused_and_keeps_its_edits(
    demo_app_db: str,
) -> None:
    first = editor(demo_app_db, "expert1", "med-004")
    second = editor(demo_app_db, "expert2", "med-004")  # both opened version 1
    edit(first, edited_rows={3: {"weight": 4}})
    edit(second, edited_rows={0: {"title": "Halves metformin dose"}})
    theirs = second.session_state[second.data_editor[0].key]

    widget(first, "text_input", "Note for this version").input("weight")
    click(first, "Save version")
    assert shown(first, "success", "Saved version 2.")
    widget(second, "text_input", "Note for this version").input("title")
    click(second, "Save version")
    assert shown(second, "error", "was changed by expert1") and shown(second, "error", "Nothing")
    assert shown(second, "warning", "Your edits are still in the table")
    assert second.session_state[second.data_editor[0].key] == theirs  # edits kept
    state, versions = saved(demo_app_db, "med-004")
    assert state.head_version_number == 2  # the refused save wrote nothing
    assert versions[0].criteria[3].weight == 4 and versions[0].criteria[0].title != (
        "Halves metformin dose"
    )
    # The diff shows the second editor what the first one changed.
    diff = second.dataframe[-1].value.to_dict("records")
    assert {"Change": "changed", "Criterion": "Monitors kidney function", "Field": "weight",
            "Before": "4", "After": "3"} in diff  # fmt: skip

    # Merged on top of the latest, the second save keeps both people's changes.
    click(second, "Keep my edits on top of the latest")
    edit(second, edited_rows={0: {"title": "Halves metformin dose"}, 3: {"weight": 4}})
    click(second, "Save version")
    assert shown(second, "success", "Saved version 3.")
    head = saved(demo_app_db, "med-004")[1][0]
    assert head.criteria[0].title == "Halves metformin dose" and head.criteria[3].weight == 4
