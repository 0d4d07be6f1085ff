"""Verdict flips after an edit: only changed criteria are re-judged, flips are counted."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from llm_server import Reply, ScriptedLLM, all_met
from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.data.importer import import_file
from rubricforge.models.judging.flips import plan_rejudge, rejudge_changed
from rubricforge.models.judging.judge import JudgeConfig
from rubricforge.models.judging.orm import Judgment
from rubricforge.models.judging.responses import import_responses
from rubricforge.models.judging.runs import run_judge
from rubricforge.models.llm.config import EndpointConfig
from rubricforge.models.rubrics.authoring import load_editor_state, save_version
from rubricforge.models.rubrics.orm import Prompt
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session


def all_met_then_stricter(body: dict[str, Any]) -> Reply:
    if re.search(r"RUBRIC \(\d+ criteria\)", body["messages"][1]["content"]) is None:
        # a per-criterion call: the re-judge says "not met"
        return Reply.json({"met": False, "rationale": "now stricter"})
    return all_met(body)


def test_edit_rejudges_changed_criteria_and_counts_flips(
    engine: Engine, rar_sample: Path, tmp_path: Path, llm_server: ScriptedLLM
) -> None:
    import_file(engine, rar_sample, "med", actor=OPERATOR)
    with Session(engine) as s:
        prompt_id, uid = s.execute(
            select(Prompt.id, Prompt.external_id).order_by(Prompt.external_id).limit(1)
        ).one()
    responses = tmp_path / "r.jsonl"
    responses.write_text(
        "".join(
            f'{{"prompt_id": "{uid}", "text": "answer {i}", "source": "p"}}\n' for i in range(4)
        )
    )
    import_responses(engine, responses, "med", actor=OPERATOR)
    llm_server.respond_with(all_met_then_stricter)
    ep = EndpointConfig(
        base_url=llm_server.base_url,
        model="j",
        api_key_env=None,
        backoff_initial=0.01,
        timeout=5,
        price_in_per_mtok=1,
        price_out_per_mtok=2,
    )
    config = JudgeConfig(ep)
    base = run_judge(engine, config, dataset="med", actor=OPERATOR)

    with Session(engine) as s, s.begin():
        state = load_editor_state(s, prompt_id)
        old_version = state.head_version_id
        crits = list(state.criteria)
        crits[0] = dataclasses.replace(crits[0], description=crits[0].description + " explicitly")
        crits[1] = dataclasses.replace(crits[1], weight=4.0)  # weight only: no new verdict needed
        crits.append(
            dataclasses.replace(
                crits[2],
                key="new-criterion",
                title="States dosage",
                description="States the first-line dose.",
            )
        )
        new = save_version(
            s,
            OPERATOR,
            state.rubric_id,
            crits,
            expected_lock_version=state.lock_version,
            note="stricter",
        )

    plan = plan_rejudge(engine, base.run_id, old_version, new.id, config)
    assert plan.responses == 4
    assert set(plan.criteria_to_judge) == {crits[0].key, "new-criterion"}
    assert plan.calls == 8 and plan.est_tokens > 0 and plan.est_cost_usd is not None

    calls_before = len(llm_server.chat_requests)
    report = rejudge_changed(engine, plan, config, actor=OPERATOR)
    assert len(llm_server.chat_requests) - calls_before == 8, "only changed criteria are re-judged"
    by_key = {c.key: c for c in report.criteria}
    assert (by_key[crits[0].key].judged, by_key[crits[0].key].flipped) == (4, 4)
    assert (by_key["new-criterion"].judged, by_key["new-criterion"].flipped) == (4, 0)
    assert report.reward_flips == 4 and report.mean_reward_delta < 0
    with engine.connect() as conn:
        n = conn.execute(
            select(func.count()).select_from(Judgment).where(Judgment.run_id == report.run_id)
        ).scalar_one()
    assert n == 4
