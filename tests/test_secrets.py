"""An endpoint's API key is used (in the Authorization header) and appears nowhere
else: not in the database, not in any log record (DEBUG included, the openai
client's own loggers too), not in an export. Drafting has its own check in
test_drafting; this one goes through judging and export."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from llm_server import Reply, ScriptedLLM, all_met
from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.core.base import Base
from rubricforge.models.core.db import session_scope
from rubricforge.models.data.exporter import ExportFilter, create_snapshot, write_snapshot
from rubricforge.models.data.importer import import_file
from rubricforge.models.judging.judge import JudgeConfig
from rubricforge.models.judging.responses import import_responses
from rubricforge.models.judging.runs import run_judge
from rubricforge.models.llm.config import EndpointConfig
from rubricforge.models.rubrics.orm import Rubric
from rubricforge.models.rubrics.workflow import approve, submit_for_review
from sqlalchemy import Engine, select, text

pytestmark = pytest.mark.db
KEY = "sk-live-7f3a9c0e55b14d2e"


def test_the_key_is_sent_only_as_the_bearer_token(
    engine: Engine,
    rar_sample: Path,
    llm_server: ScriptedLLM,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, the openai client's included
    monkeypatch.setenv("JUDGE_TEST_KEY", KEY)
    import_file(engine, rar_sample, "med", actor=OPERATOR)
    with session_scope(engine) as s:
        for r in s.scalars(select(Rubric)).all():
            submit_for_review(s, OPERATOR, r.id, expected_lock_version=r.lock_version)
            s.flush()
            approve(s, OPERATOR, r.id, expected_lock_version=r.lock_version, confirm_errors=True)
        uids = [row[0] for row in s.execute(text("SELECT external_id FROM prompts"))]
    responses = tmp_path / "responses.jsonl"
    responses.write_text(
        "".join(
            json.dumps({"prompt_id": u, "text": "An answer.", "source": "p"}) + "\n" for u in uids
        )
    )
    import_responses(engine, responses, "med", actor=OPERATOR)

    llm_server.script(Reply.error(429))  # a retry too: its log lines must not leak either
    llm_server.respond_with(all_met)
    endpoint = EndpointConfig(
        base_url=llm_server.base_url, model="judge-m", api_key_env="JUDGE_TEST_KEY",
        backoff_initial=0.01, backoff_max=0.05, timeout=5,
    )  # fmt: skip
    report = run_judge(engine, JudgeConfig(endpoint), dataset="med", actor=OPERATOR)
    assert report.judged == len(uids) == 3
    snapshot = create_snapshot(engine, ExportFilter(dataset="med"), actor=OPERATOR)
    files = write_snapshot(engine, snapshot.id, tmp_path / "export")

    # The key was used ...
    assert llm_server.requests
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in llm_server.requests)
    # ... and is nowhere else.
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            dump = conn.scalar(
                text(f"SELECT coalesce(string_agg(t::text, ''), '') FROM {table.name} t")
            )
            assert KEY not in dump, table.name
    assert caplog.records, "nothing was logged: the check below would prove nothing"
    assert KEY not in caplog.text
    assert files
    for path in (tmp_path / "export").rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
