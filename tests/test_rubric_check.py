"""Rubric check: the reference answer must outscore its degraded variants."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from llm_server import Reply, ScriptedLLM
from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.core.errors import RubricforgeError
from rubricforge.models.data.importer import import_file
from rubricforge.models.judging.judge import JudgeConfig
from rubricforge.models.judging.orm import Response
from rubricforge.models.judging.probes import ProbeCriterion, claims, negated
from rubricforge.models.judging.rubric_check import check_rubrics, truncate
from rubricforge.models.llm.config import EndpointConfig
from rubricforge.models.rubrics.orm import Criterion, Prompt, Rubric
from sqlalchemy import Engine, select


def test_truncate_keeps_the_first_half_of_the_sentences() -> None:
    assert truncate("One. Two. Three. Four.") == "One. Two."
    assert truncate("a b c d") == "a b"


def test_reference_beats_variants_unless_a_variant_is_as_good(
    engine: Engine, rar_sample: Path, llm_server: ScriptedLLM
) -> None:
    import_file(engine, rar_sample, "med", actor=OPERATOR)
    with engine.connect() as conn:
        prompts = conn.execute(
            select(Prompt.id, Prompt.external_id, Prompt.reference_answer).order_by(Prompt.id)
        ).all()
    references = [p.reference_answer for p in prompts]

    def judge(body: dict[str, Any]) -> Reply:
        text = body["messages"][-1]["content"]
        if "degraded copies" in text:
            return Reply.json(
                {
                    "key_fact_removed": "Vague answer.",
                    "pitfall_inserted": "Wrong answer, WRONG CLAIM.",
                }
            )
        n = int(re.search(r"RUBRIC \((\d+) criteria\)", text).group(1))
        fenced = re.search(r"<<<RESPONSE \w+\n(.*)\nRESPONSE \w+>>>", text, re.S).group(1)
        good = any(fenced.startswith(r) for r in references)
        # Criteria are numbered in rubric order; pitfalls are listed as [Pitfall].
        pitfalls = {int(i) for i in re.findall(r"^(\d+)\. \[Pitfall\]", text, re.M)}
        return Reply.json(
            {
                "verdicts": [
                    {"index": i, "met": (not good) if i in pitfalls else good, "rationale": "-"}
                    for i in range(1, n + 1)
                ]
            }
        )

    llm_server.respond_with(judge)
    ep = EndpointConfig(
        base_url=llm_server.base_url, model="j", api_key_env=None, backoff_initial=0.01, timeout=5
    )
    # The expert pastes, for the first prompt, a "variant" that still contains the reference.
    first = prompts[0]
    pasted = {first.id: {"key_fact_removed": first.reference_answer + " Extra words."}}
    report = check_rubrics(
        engine, "med", JudgeConfig(ep), pasted=pasted, variant_endpoint=ep, actor=OPERATOR
    )

    by_id = {p.external_id: p for p in report.prompts}
    assert by_id[first.external_id].passed is False
    assert set(by_id[first.external_id].variant_rewards) == {"truncated", "key_fact_removed"}
    for p in prompts[1:]:
        check = by_id[p.external_id]
        assert check.passed is True
        assert set(check.variant_rewards) == {"truncated", "key_fact_removed", "pitfall_inserted"}
        assert check.reference_reward == 1.0
    assert report.pass_share == pytest.approx(2 / 3)
    assert first.external_id in report.summary()


def test_unknown_pasted_variant_is_refused(
    engine: Engine, rar_sample: Path, llm_server: ScriptedLLM
) -> None:
    import_file(engine, rar_sample, "med", actor=OPERATOR)
    with engine.connect() as conn:
        pid = conn.execute(select(Prompt.id).limit(1)).scalar_one()
    ep = EndpointConfig(base_url=llm_server.base_url, model="j", api_key_env=None)
    with pytest.raises(RubricforgeError, match="must be one of"):
        check_rubrics(
            engine,
            "med",
            JudgeConfig(ep),
            prompt_ids=[pid],
            pasted={pid: {"shuffled": "x"}},
            actor=OPERATOR,
        )
    assert llm_server.chat_requests == []


def test_a_judge_that_rewards_criteria_restated_as_claims_is_reported(
    engine: Engine, rar_sample: Path, llm_server: ScriptedLLM
) -> None:
    """The scripted judge passes the reference and, wrongly, the claims probe (every good
    criterion met, no pitfall); it fails everything else. Only "claims" is rewarded."""
    import_file(engine, rar_sample, "med", actor=OPERATOR)
    with engine.connect() as conn:
        first = conn.execute(
            select(Prompt.id, Prompt.external_id, Prompt.reference_answer).order_by(Prompt.id)
        ).first()
        assert first is not None
        rubric = [
            ProbeCriterion(t, d, float(w))
            for t, d, w in conn.execute(
                select(Criterion.title, Criterion.description, Criterion.weight)
                .join(Rubric, Rubric.head_version_id == Criterion.version_id)
                .where(Rubric.prompt_id == first.id)
                .order_by(Criterion.position)
            )
        ]
    judged: list[str] = []

    def judge(body: dict[str, Any]) -> Reply:
        text = body["messages"][-1]["content"]
        n = int(re.search(r"RUBRIC \((\d+) criteria\)", text).group(1))
        fenced = re.search(r"<<<RESPONSE \w+\n(.*)\nRESPONSE \w+>>>", text, re.S).group(1)
        judged.append(fenced)
        good = fenced == first.reference_answer or fenced.startswith("This answer ")
        pitfalls = {int(i) for i in re.findall(r"^(\d+)\. \[Pitfall\]", text, re.M)}
        verdicts = [
            {"index": i, "met": (not good) if i in pitfalls else good, "rationale": "-"}
            for i in range(1, n + 1)
        ]
        return Reply.json({"verdicts": verdicts})

    llm_server.respond_with(judge)
    ep = EndpointConfig(
        base_url=llm_server.base_url, model="j", api_key_env=None, backoff_initial=0.01, timeout=5
    )
    report = check_rubrics(engine, "med", JudgeConfig(ep), prompt_ids=[first.id], actor=OPERATOR)
    [check] = report.prompts
    assert check.reference_reward == 1.0
    assert set(check.probe_rewards) == {"claims", "hedged", "keywords", "negated"}
    assert check.probe_rewards["claims"] == 1.0
    assert check.rewarded_probes() == ["claims"]
    assert check.passed is True  # the degraded copy still ranks below the reference
    assert f"rewards hacking probes: {first.external_id} (claims)" in report.summary()
    # The judge saw exactly the hand-built probe texts.
    assert check.probe_texts["claims"] == claims(rubric)
    assert check.probe_texts["negated"] == negated(first.reference_answer, rubric)
    assert set(check.probe_texts.values()) <= set(judged)
    with engine.connect() as conn:
        stored = dict(
            conn.execute(
                select(Response.source, Response.meta).where(Response.prompt_id == first.id)
            ).all()
        )
    assert stored["probe:keywords"] == {"rubric_check": True, "probe": True}
    # A lower bar: with everything but the reference at 0, a threshold changes nothing;
    # a threshold below 0 makes every judged probe count.
    assert check.rewarded_probes(threshold=-0.1) == list(check.probe_rewards)
