"""`rubricforge judge` says when its run failed, failed judgments record
what their attempts cost, and a judge's rationale is capped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from llm_server import Reply, ScriptedLLM, all_met
from rubricforge.models.core.limits import MAX_RATIONALE
from rubricforge.models.core.status import Status
from rubricforge.models.judging.orm import JudgeRun, Judgment, Response, Verdict
from rubricforge.models.rubrics.orm import Prompt
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from rubricforge.cli import app

pytestmark = pytest.mark.db

ATTEMPTS = 3  # EndpointConfig.reply_retries (2) + 1


@pytest.fixture
def judged(engine: Engine, db_url: str, rar_sample: Path, tmp_path: Path) -> dict[str, str]:
    """Dataset 'med' with two responses, 'good answer' and 'bad answer'; the CLI env."""
    env = {"DATABASE_URL": db_url}
    runner = CliRunner()
    result = runner.invoke(app, ["import", str(rar_sample), "--dataset", "med"], env=env)
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        uids = conn.execute(select(Prompt.external_id).order_by(Prompt.id).limit(2)).scalars().all()
        rows = [
            {"prompt_id": u, "text": t, "source": "a"} for u, t in zip(uids, TEXTS, strict=True)
        ]
    path = tmp_path / "responses.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = runner.invoke(app, ["responses", "import", str(path), "--dataset", "med"], env=env)
    assert result.exit_code == 0, result.output
    return env


TEXTS = ["good answer", "bad answer"]


def judge(env: dict[str, str], server: ScriptedLLM, *extra: str) -> Any:
    args = ["judge", "--dataset", "med", "--base-url", server.base_url, "--model", "judge-m",
            "--api-key-env", "none", "--concurrency", "2", *extra]  # fmt: skip
    return CliRunner().invoke(app, args, env={**env, "RUBRICFORGE_LLM_BACKOFF_INITIAL": "0.01"})


def test_a_run_where_every_judgment_failed_exits_1(
    engine: Engine, judged: dict[str, str], llm_server: ScriptedLLM
) -> None:
    llm_server.respond_with(lambda _b: Reply.text("not json"))
    result = judge(judged, llm_server)
    assert result.exit_code == 1, result.output
    assert "failed: none of its 2 judgments succeeded" in result.output
    assert "Traceback" not in result.output
    with engine.connect() as conn:
        assert conn.execute(select(JudgeRun.status)).scalar_one() is Status.failed


def test_a_run_with_some_failed_judgments_exits_3(
    engine: Engine, judged: dict[str, str], llm_server: ScriptedLLM
) -> None:
    def reply(body: dict[str, Any]) -> Reply:
        return Reply.text("nope") if "bad answer" in json.dumps(body) else all_met(body)

    llm_server.respond_with(reply)
    result = judge(judged, llm_server)
    assert result.exit_code == 3, result.output
    assert "1/2 judged" in result.output and "1 of 2 judgments failed" in result.output


def test_a_run_where_all_succeeded_exits_0(judged: dict[str, str], llm_server: ScriptedLLM) -> None:
    llm_server.respond_with(all_met)
    result = judge(judged, llm_server)
    assert result.exit_code == 0, result.output
    assert "2/2 judged" in result.output and "failed" not in result.output.split(",")[1]


def test_failed_judgments_record_the_tokens_of_every_attempt(
    engine: Engine, judged: dict[str, str], llm_server: ScriptedLLM
) -> None:
    llm_server.respond_with(
        lambda _b: Reply.text("not json", prompt_tokens=100, completion_tokens=7)
    )
    judge(judged, llm_server)
    assert len(llm_server.chat_requests) == 2 * ATTEMPTS
    with engine.connect() as conn:
        rows = conn.execute(select(Judgment.ok, Judgment.tokens_in, Judgment.tokens_out)).all()
        run = conn.execute(select(JudgeRun.tokens_in, JudgeRun.tokens_out)).one()
    assert [tuple(r) for r in rows] == [(False, 100 * ATTEMPTS, 7 * ATTEMPTS)] * 2
    assert tuple(run) == (2 * 100 * ATTEMPTS, 2 * 7 * ATTEMPTS)


def test_per_criterion_failures_count_every_call(
    engine: Engine, judged: dict[str, str], llm_server: ScriptedLLM
) -> None:
    def reply(body: dict[str, Any]) -> Reply:
        # The first criterion is always answered; every other one never validly.
        ok = "Identifies" in json.dumps(body) and "good answer" in json.dumps(body)
        content = json.dumps({"met": True, "rationale": "fine"}) if ok else "not json"
        return Reply.text(content, prompt_tokens=10, completion_tokens=1)

    llm_server.respond_with(reply)
    judge(judged, llm_server, "--per-criterion")
    calls = len(llm_server.chat_requests)
    with engine.connect() as conn:
        spent = conn.execute(select(JudgeRun.tokens_in, JudgeRun.tokens_out)).one()
    assert tuple(spent) == (10 * calls, calls)  # every request the server answered is counted


def test_a_rationale_is_capped(
    engine: Engine, judged: dict[str, str], llm_server: ScriptedLLM
) -> None:
    def reply(body: dict[str, Any]) -> Reply:
        long = all_met(body)
        data = json.loads(long.content or "{}")
        for v in data["verdicts"]:
            v["rationale"] = "because " * 50_000  # 400 kB each
        return Reply.json(data)

    llm_server.respond_with(reply)
    result = judge(judged, llm_server)
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        rationales = conn.execute(select(Verdict.rationale)).scalars().all()
        responses = conn.execute(select(Response.id)).scalars().all()
    assert rationales and len(responses) == 2
    for r in rationales:
        assert len(r) <= MAX_RATIONALE and r.startswith("because because")
        assert "[truncated:" in r
