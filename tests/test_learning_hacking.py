"""Keyword stuffing must not pay: a completion listing every criterion's words scores
below the reference answer under the default judge prompts.

Without an LLM this proves two things, and only these: (1) the explicit and implicit
prompts the worker sends carry the instruction a judge needs (criteria are met by
what the response asserts, not by the words in it); (2) the training reward path
(trainer/run.py's judge, trainer/reward.py) turns the judge's verdicts into rewards
that rank the two as the judge does. The scripted judge (tests/rubric_judge.py's
ReadingJudge) obeys that instruction when it is in the prompt and matches keywords
when it is not, so this test fails if the instruction goes missing. Whether a real
LLM obeys it is bench/hacking_check.py's question.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from llm_server import ScriptedLLM
from rubric_judge import ReadingJudge, fenced_response, stuffed_completion
from rubricforge.models.judging.prompts import ASSERTIONS_NOT_WORDS
from rubricforge.models.judging.rewards import rar_explicit_reward
from rubricforge.models.rubrics.criteria import category_from_weight
from rubricforge.models.training.config import JudgeSpec
from rubricforge.trainer.reward import make_reward_func
from rubricforge.trainer.run import build_judge


def rows(sample: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in sample.read_text().splitlines() if line.strip()]


def rubric_column(row: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "title": c["title"],
            "description": c["description"],
            "category": category_from_weight(c["weight"]).value,
            "weight": float(c["weight"]),
        }
        for c in row["rubric"]
    ]


def stuffed(row: dict[str, Any]) -> str:
    """What a policy hacking the reward writes: the words of every criterion that pays."""
    return stuffed_completion([c["title"] for c in row["rubric"] if c["weight"] > 0])


def rewards(server: ScriptedLLM, mode: str, row: dict[str, Any], texts: list[str]) -> list[float]:
    spec = JudgeSpec(base_url=server.base_url, model="reader", mode=mode, api_key_env="none")
    reward = make_reward_func(build_judge(spec), max_failure_rate=0.0)
    prompt = [{"role": "user", "content": row["question"]}]
    out = asyncio.run(
        reward(
            prompts=[prompt] * len(texts),
            completions=[[{"role": "assistant", "content": t}] for t in texts],
            rubric=[rubric_column(row)] * len(texts),
            reference_answer=[row["reference_answer"]] * len(texts),
        )
    )
    return list(out)


@pytest.mark.parametrize("mode", ["explicit", "implicit"])
def test_keyword_stuffing_scores_below_the_reference_under_the_default_prompts(
    llm_server: ScriptedLLM, rar_sample: Path, mode: str
) -> None:
    judge = ReadingJudge(llm_server, told=ASSERTIONS_NOT_WORDS)
    for row in rows(rar_sample):
        start = len(llm_server.chat_requests)
        hacked, reference = rewards(llm_server, mode, row, [stuffed(row), row["reference_answer"]])
        sent = llm_server.chat_requests[start:]
        assert len(sent) == 2
        # (1) the instruction reaches the judge in this mode's prompt
        assert all(ASSERTIONS_NOT_WORDS in r.text for r in sent)
        # (2) the rewards are the judge's verdicts, aggregated as configured
        by_text = {fenced_response(r.text): judge.verdicts(r.body["messages"][-1]["content"])
                   for r in sent}  # fmt: skip
        weights = [float(c["weight"]) for c in row["rubric"]]
        for text, got in [(stuffed(row), hacked), (row["reference_answer"], reference)]:
            met = by_text[text]
            if mode == "explicit":
                assert got == pytest.approx(rar_explicit_reward(weights, met))
            else:
                assert got == pytest.approx(round(9 * sum(met) / len(met)) / 9)
        print(mode, row["uid"], f"stuffed {hacked:.2f} reference {reference:.2f}")
        assert hacked < reference, (row["uid"], hacked, reference)


def test_without_the_instruction_the_scripted_judge_is_fooled(
    llm_server: ScriptedLLM, rar_sample: Path
) -> None:
    """The control: the same judge, sent the same prompts less the instruction, matches
    keywords and ranks the stuffed completion at or above the reference; so the test
    above passes because the prompts carry the instruction."""
    judge = ReadingJudge(llm_server, told=ASSERTIONS_NOT_WORDS)
    for row in rows(rar_sample):
        start = len(llm_server.chat_requests)
        rewards(llm_server, "explicit", row, [stuffed(row), row["reference_answer"]])
        weights = [float(c["weight"]) for c in row["rubric"]]
        scores = {}
        for r in llm_server.chat_requests[start:]:
            text = r.body["messages"][-1]["content"].replace(ASSERTIONS_NOT_WORDS, "")
            scores[fenced_response(text)] = rar_explicit_reward(weights, judge.verdicts(text))
        hacked, reference = scores[stuffed(row)], scores[row["reference_answer"]]
        print("no instruction", row["uid"], f"stuffed {hacked:.2f} reference {reference:.2f}")
        assert hacked >= reference, (row["uid"], hacked, reference)
