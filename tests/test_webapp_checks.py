"""The rubric check in the editor and verdict flips in History, run from the app
against the local scripted OpenAI-compatible server."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
from llm_server import Reply, ScriptedLLM, all_met
from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.core.db import session_scope
from rubricforge.models.data.importer import import_file
from rubricforge.models.judging.flips import base_runs
from rubricforge.models.judging.judge import JudgeConfig
from rubricforge.models.judging.orm import JudgeRun
from rubricforge.models.judging.responses import import_responses
from rubricforge.models.judging.runs import run_judge
from rubricforge.models.llm.config import EndpointConfig
from rubricforge.models.llm.endpoints import save_endpoint
from rubricforge.models.rubrics.authoring import load_editor_state, save_version
from rubricforge.models.rubrics.orm import Prompt
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session
from webapp_support import add_account, app_as, click, has, shown

pytestmark = pytest.mark.db

FENCED = re.compile(r"<<<RESPONSE \w+\n(.*)\nRESPONSE \w+>>>", re.S)


@pytest.fixture
def med(app_db: str, rar_sample: Path, llm_server: ScriptedLLM) -> Engine:
    eng = create_engine(app_db)
    import_file(eng, rar_sample, "med", actor=OPERATOR)
    with session_scope(eng) as s:
        save_endpoint(s, OPERATOR, "local", base_url=llm_server.base_url, model="judge-m",
                      api_key_env=None)  # fmt: skip
    yield eng
    eng.dispose()


def first_prompt(eng: Engine) -> tuple[int, str]:
    with Session(eng) as s:
        row = s.execute(select(Prompt.id, Prompt.reference_answer).order_by(Prompt.id)).first()
    assert row is not None
    return row[0], row[1]


def test_the_editor_runs_the_rubric_check_and_says_whether_the_reference_wins(
    app_db: str, med: Engine, llm_server: ScriptedLLM
) -> None:
    pid, reference = first_prompt(med)

    def judge(body: dict[str, Any]) -> Reply:
        text = body["messages"][-1]["content"]
        n = int(re.search(r"RUBRIC \((\d+) criteria\)", text).group(1))
        good = FENCED.search(text).group(1) == reference
        pitfalls = {int(i) for i in re.findall(r"^(\d+)\. \[Pitfall\]", text, re.M)}
        verdicts = [{"index": i, "met": (not good) if i in pitfalls else good, "rationale": "-"}
                    for i in range(1, n + 1)]  # fmt: skip
        return Reply.json({"verdicts": verdicts})

    llm_server.respond_with(judge)
    expert = add_account(app_db, "erin", "expert")
    at = app_as(expert, "views/editor.py", {"prompt": str(pid)})
    click(at, "Run the rubric check")
    assert shown(at, "success", "scores the reference above every degraded copy")
    [table] = [d.value for d in at.dataframe if "Answer" in d.value.columns]
    assert list(table["Answer"]) == ["reference", "truncated"]
    assert list(table["Reward"]) == [1.0, 0.0]
    # The probes say nothing right, and this judge rewards none of them.
    assert shown(at, "success", "The judge rewards none of the hacking probes.")
    probes = at.dataframe[-1].value
    assert list(probes["Rewarded"]) == ["no"] * 4
    assert "criteria restated as claims" in list(probes["Probe"])
    with Session(med) as s:  # the check is a judge run like any other, kept with its scope
        assert s.scalar(select(func.count(JudgeRun.id))) == 1


def test_the_rubric_check_reports_the_hacking_probes_the_judge_rewards(
    app_db: str, med: Engine, llm_server: ScriptedLLM
) -> None:
    pid, reference = first_prompt(med)

    def judge(body: dict[str, Any]) -> Reply:  # fooled by a bare list of keywords
        text = body["messages"][-1]["content"]
        n = int(re.search(r"RUBRIC \((\d+) criteria\)", text).group(1))
        fenced = FENCED.search(text).group(1)
        good = fenced == reference or ("," in fenced and "." not in fenced)
        pitfalls = {int(i) for i in re.findall(r"^(\d+)\. \[Pitfall\]", text, re.M)}
        verdicts = [{"index": i, "met": (not good) if i in pitfalls else good, "rationale": "-"}
                    for i in range(1, n + 1)]  # fmt: skip
        return Reply.json({"verdicts": verdicts})

    llm_server.respond_with(judge)
    expert = add_account(app_db, "erin", "expert")
    at = app_as(expert, "views/editor.py", {"prompt": str(pid)})
    click(at, "Run the rubric check")
    assert shown(at, "warning", "The judge rewards 1 hacking probe(s): bare keyword list.")
    probes = at.dataframe[-1].value.set_index("Probe")
    assert probes.loc["bare keyword list", "Rewarded"] == "YES"
    assert probes.loc["bare keyword list", "Reward"] == 1.0
    assert probes.loc["hedged: X or not X", "Rewarded"] == "no"


def test_the_rubric_check_is_not_offered_to_an_annotator(app_db: str, med: Engine) -> None:
    pid, _ = first_prompt(med)
    annotator = add_account(app_db, "ann", "annotator")
    at = app_as(annotator, "views/editor.py", {"prompt": str(pid)})
    assert not has(at, "button", "Run the rubric check")


def test_history_rejudges_the_changed_criteria_and_counts_flips(
    app_db: str, med: Engine, llm_server: ScriptedLLM, tmp_path: Path
) -> None:
    pid, _ = first_prompt(med)
    with Session(med) as s:
        uid = s.scalar(select(Prompt.external_id).where(Prompt.id == pid))
    responses = tmp_path / "r.jsonl"
    responses.write_text("".join(f'{{"prompt_id": "{uid}", "text": "answer {i}", "source": "p"}}\n'
                                 for i in range(3)))  # fmt: skip
    import_responses(med, responses, "med", actor=OPERATOR)

    def judge(body: dict[str, Any]) -> Reply:
        if re.search(r"RUBRIC \(\d+ criteria\)", body["messages"][1]["content"]) is None:
            return Reply.json({"met": False, "rationale": "stricter"})  # one criterion
        return all_met(body)

    llm_server.respond_with(judge)
    ep = EndpointConfig(base_url=llm_server.base_url, model="judge-m", api_key_env=None,
                        backoff_initial=0.01, timeout=5)  # fmt: skip
    run_judge(med, JudgeConfig(ep), dataset="med", actor=OPERATOR)
    with Session(med) as s, s.begin():
        state = load_editor_state(s, pid)
        old = state.head_version_id
        crits = list(state.criteria)
        crits[0] = dataclasses.replace(crits[0], description=crits[0].description + " Exactly.")
        save_version(s, OPERATOR, state.rubric_id, crits,
                     expected_lock_version=state.lock_version, note="stricter")  # fmt: skip
    assert old is not None and [r.judgments for r in base_runs(med, old)] == [3]

    expert = add_account(app_db, "erin", "expert")
    at = app_as(expert, "views/history.py", {"prompt": str(pid)})
    assert shown(at, "caption", "1 changed criteria x 3 responses = 3 judge calls")
    click(at, "Re-judge the changed criteria")
    assert shown(at, "success", "3 of 3 rewards changed")
    flips = at.dataframe[-1].value
    assert list(flips["Verdicts flipped"]) == [3]
