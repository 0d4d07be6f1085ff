"""Responses in, judge runs over them, every judgment and verdict kept in Postgres."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from llm_server import Reply, ScriptedLLM, all_met
from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.core.errors import ImportFileError, NotFoundError
from rubricforge.models.core.status import Status
from rubricforge.models.data.importer import import_file
from rubricforge.models.judging.judge import JudgeConfig
from rubricforge.models.judging.orm import (
    JudgeMode,
    JudgeRun,
    Judgment,
    Response,
    Verdict,
)
from rubricforge.models.judging.responses import generate_responses, import_responses
from rubricforge.models.judging.runs import run_judge, run_progress
from rubricforge.models.llm.config import EndpointConfig
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from rubricforge.cli import app

UIDS = ["med-01884518e6c7", "med-0b2ec1b64ba0", "med-0ec4e7fce5bd"]


def endpoint(server: ScriptedLLM) -> EndpointConfig:
    return EndpointConfig(
        base_url=server.base_url,
        model="judge-m",
        api_key_env=None,
        backoff_initial=0.01,
        backoff_max=0.05,
        timeout=5,
    )


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def med(engine: Engine, rar_sample: Path) -> str:
    import_file(engine, rar_sample, "med", actor=OPERATOR)
    return "med"


def count(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def test_import_responses_is_idempotent(engine: Engine, med: str, tmp_path: Path) -> None:
    uids = _uids(engine)
    f = write_jsonl(
        tmp_path / "r.jsonl",
        [
            {"prompt_id": u, "response": f"answer {i}", "model": "policy-a"}
            for i, u in enumerate(uids)
        ],
    )
    first = import_responses(engine, f, med, actor=OPERATOR)
    assert (first.added, first.unchanged) == (3, 0)
    again = import_responses(engine, f, med, actor=OPERATOR)
    assert (again.added, again.unchanged) == (0, 3)
    assert count(engine, Response) == 3


def test_bad_responses_file_imports_nothing_and_names_every_line(
    engine: Engine, med: str, tmp_path: Path
) -> None:
    uid = _uids(engine)[0]
    f = tmp_path / "bad.jsonl"
    f.write_text(
        json.dumps({"prompt_id": uid, "text": "fine", "source": "a"})
        + "\n"
        + "{broken\n"
        + json.dumps({"prompt_id": "nope", "text": "x", "source": "a"})
        + "\n"
        + json.dumps({"prompt_id": uid, "text": "", "source": "a"})
        + "\n"
    )
    with pytest.raises(ImportFileError) as err:
        import_responses(engine, f, med, actor=OPERATOR)
    assert [line for line, _ in err.value.problems] == [2, 3, 4]
    assert "not in dataset 'med'" in str(err.value)
    assert count(engine, Response) == 0
    with pytest.raises(NotFoundError, match="no dataset named 'other'"):
        import_responses(engine, f, "other", actor=OPERATOR)


def test_judge_run_stores_judgments_verdicts_and_progress(
    engine: Engine, med: str, tmp_path: Path, llm_server: ScriptedLLM
) -> None:
    uids = _uids(engine)
    import_responses(
        engine,
        write_jsonl(
            tmp_path / "r.jsonl",
            [
                {"prompt_id": u, "text": f"answer {i} {s}", "source": s}
                for i, u in enumerate(uids)
                for s in ("a", "b")
            ],
        ),
        med,
        actor=OPERATOR,
    )
    llm_server.respond_with(all_met)
    report = run_judge(engine, JudgeConfig(endpoint(llm_server)), dataset=med, actor=OPERATOR)
    assert (report.total, report.judged, report.failed) == (6, 6, 0)
    assert run_progress(engine, report.run_id) == {
        "status": "succeeded",
        "done": 6,
        "total": 6,
        "failed": 0,
        "tokens_in": report.tokens_in,
        "tokens_out": report.tokens_out,
    }
    with engine.connect() as conn:
        verdicts = conn.execute(select(func.count()).select_from(Verdict)).scalar_one()
        rewards = conn.execute(select(Judgment.reward)).scalars().all()
        run = conn.execute(select(JudgeRun.mode, JudgeRun.template_hash, JudgeRun.status)).one()
    # 9 + 10 + 10 criteria in the sample, two responses each
    assert verdicts == 2 * 29
    # Every pitfall "met" (mistake made) costs its weight: rewards are below 1.
    assert all(0 < r < 1 for r in rewards)
    assert run.mode is JudgeMode.explicit and run.status is Status.succeeded
    assert len(run.template_hash) == 64

    # Same run again: every call is served from the cache, none reaches the server.
    calls = len(llm_server.chat_requests)
    again = run_judge(engine, JudgeConfig(endpoint(llm_server)), dataset=med, actor=OPERATOR)
    assert again.cached == 6 and len(llm_server.chat_requests) == calls


def test_failed_judgments_are_recorded_not_defaulted(
    engine: Engine, med: str, tmp_path: Path, llm_server: ScriptedLLM
) -> None:
    uid = _uids(engine)[0]
    import_responses(
        engine,
        write_jsonl(tmp_path / "r.jsonl", [{"prompt_id": uid, "text": "x", "source": "a"}]),
        med,
        actor=OPERATOR,
    )
    llm_server.respond_with(lambda _b: Reply.text("not json"))
    report = run_judge(engine, JudgeConfig(endpoint(llm_server)), dataset=med, actor=OPERATOR)
    assert report.failed == 1
    with engine.connect() as conn:
        j = conn.execute(select(Judgment.ok, Judgment.reward, Judgment.error)).one()
        v = conn.execute(select(Verdict.ok, Verdict.met)).all()
        status = conn.execute(select(JudgeRun.status)).scalar_one()
    assert j.ok is False and j.reward is None and "no valid reply" in j.error
    assert {tuple(r) for r in v} == {(False, None)}
    assert status is Status.failed


def test_generate_then_judge_implicit_from_the_cli(
    engine: Engine, med: str, db_url: str, llm_server: ScriptedLLM
) -> None:
    def reply(body: dict[str, Any]) -> Reply:
        if body.get("response_format"):
            return Reply.json({"rating": 8})
        return Reply.text("A sampled policy answer.")

    llm_server.respond_with(reply)
    res = generate_responses(engine, med, endpoint(llm_server), n=2, actor=OPERATOR)
    # Identical samples for one prompt are stored once.
    assert res.added == 3 and count(engine, Response) == 3
    env = {"DATABASE_URL": db_url}
    out = CliRunner().invoke(
        app,
        [
            "judge",
            "--dataset",
            med,
            "--mode",
            "implicit",
            "--base-url",
            llm_server.base_url,
            "--model",
            "judge-m",
            "--api-key-env",
            "none",
        ],
        env=env,
    )
    assert out.exit_code == 0, out.output
    assert "3/3 judged" in out.output and "mean reward 0.778" in out.output
    bad = CliRunner().invoke(
        app,
        [
            "judge",
            "--dataset",
            "missing",
            "--model",
            "m",
            "--base-url",
            llm_server.base_url,
            "--api-key-env",
            "none",
        ],
        env=env,
    )
    assert bad.exit_code == 1 and "no dataset named 'missing'" in bad.output
    assert "Traceback" not in bad.output


def _uids(engine: Engine) -> list[str]:
    from rubricforge.models.rubrics.orm import Prompt

    with engine.connect() as conn:
        return sorted(conn.execute(select(Prompt.external_id)).scalars())
