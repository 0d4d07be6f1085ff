"""A judge run whose process stopped (the app restarted mid-run) is shown as
stalled and can be marked failed; a run still judging cannot, and a process still
judging a run someone marked failed stops without overwriting that outcome."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from judging_support import judged
from llm_server import Reply, ScriptedLLM
from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.core.db import session_scope
from rubricforge.models.core.errors import InvalidInputError
from rubricforge.models.core.status import Status
from rubricforge.models.data.importer import import_file
from rubricforge.models.judging.background import list_runs, mark_abandoned
from rubricforge.models.judging.judge import JudgeConfig
from rubricforge.models.judging.orm import JudgeMode, JudgeRun
from rubricforge.models.judging.responses import import_responses
from rubricforge.models.judging.runs import RunAbandonedError, run_judge
from rubricforge.models.llm.config import EndpointConfig
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.orm import Session
from webapp_support import app_as, click

pytestmark = pytest.mark.db


def make_running(engine: Engine, run_id: int, minutes_ago: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE judge_runs SET status = 'running', finished_at = NULL, "
                "started_at = now() - make_interval(mins => :m), "
                "heartbeat_at = now() - make_interval(mins => :m) WHERE id = :id"
            ),
            {"m": minutes_ago, "id": run_id},
        )


def status(engine: Engine, run_id: int) -> tuple[Status, str | None]:
    with Session(engine) as s:
        run = s.get(JudgeRun, run_id)
        assert run is not None
        return run.status, run.error


def test_only_a_stalled_run_can_be_marked_failed(engine: Engine) -> None:
    j = judged(engine)
    make_running(engine, j.run, minutes_ago=2)
    with Session(engine) as s:
        assert [r.stalled for r in list_runs(s)] == [False]
    with pytest.raises(InvalidInputError, match="reported progress at"), session_scope(engine) as s:
        mark_abandoned(s, j.world.users["rita"], j.run)
    assert status(engine, j.run)[0] is Status.running

    make_running(engine, j.run, minutes_ago=30)
    with Session(engine) as s:
        assert [r.stalled for r in list_runs(s)] == [True]
    with session_scope(engine) as s:
        mark_abandoned(s, j.world.users["rita"], j.run)
    state, error = status(engine, j.run)
    assert state is Status.failed and "abandoned" in (error or "") and "rita" in (error or "")
    with (
        pytest.raises(InvalidInputError, match="is failed, not running"),
        session_scope(engine) as s,
    ):
        mark_abandoned(s, j.world.users["rita"], j.run)


def test_the_page_shows_a_stalled_run_and_marks_it_failed(app_db: str) -> None:
    eng = create_engine(app_db)
    j = judged(eng)
    make_running(eng, j.run, minutes_ago=30)
    at = app_as(j.uid("ann"), "views/judging.py")  # an annotator sees it, cannot act
    assert any("no progress since" in w.value for w in at.warning)
    assert not [b for b in at.button if b.label.startswith("Mark run")]
    at = app_as(j.uid("rita"), "views/judging.py")
    click(at, f"Mark run {j.run} as failed")
    assert status(eng, j.run)[0] is Status.failed
    assert not any("no progress since" in w.value for w in at.warning)
    eng.dispose()


def test_a_process_still_judging_an_abandoned_run_stops_and_keeps_the_outcome(
    engine: Engine, rar_sample: Path, tmp_path: Path, llm_server: ScriptedLLM
) -> None:
    import_file(engine, rar_sample, "med", actor=OPERATOR)
    with engine.connect() as conn:
        uids = list(conn.scalars(text("SELECT external_id FROM prompts")))
    f = tmp_path / "r.jsonl"
    f.write_text(
        "".join(f'{{"prompt_id": "{u}", "text": "answer", "source": "p"}}\n' for u in uids)
    )
    import_responses(engine, f, "med", actor=OPERATOR)

    def reply(body: dict[str, Any]) -> Reply:
        # While the judge is answering, someone marks the run failed.
        with engine.begin() as conn:
            conn.execute(text("UPDATE judge_runs SET status = 'failed', error = 'abandoned: test'"))
        return Reply.json({"rating": 7})

    llm_server.respond_with(reply)
    endpoint = EndpointConfig(base_url=llm_server.base_url, model="m", api_key_env=None, timeout=5)
    with pytest.raises(RunAbandonedError):
        run_judge(
            engine, JudgeConfig(endpoint, mode=JudgeMode.implicit), dataset="med", actor=OPERATOR
        )
    with Session(engine) as s:
        run = s.scalars(select(JudgeRun)).one()
        assert (run.status, run.error, run.done) == (Status.failed, "abandoned: test", 0)
        assert s.scalar(text("SELECT count(*) FROM judgments")) == 0  # the chunk rolled back
