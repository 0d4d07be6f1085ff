"""The TRL reward function on its own: TRL's call shape in, rewards and the
step's judge metrics out, against the scripted judge over real HTTP."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from llm_server import Reply, ScriptedLLM
from rubricforge.models.judging.judge import Judge, JudgeConfig
from rubricforge.models.judging.orm import JudgeMode
from rubricforge.models.llm.config import EndpointConfig
from rubricforge.trainer.reward import RewardStats, make_reward_func

RUBRIC = [
    {"title": "Right answer", "description": "Names D.", "category": "Essential", "weight": 5.0},
    {
        "title": "Mentions heat",
        "description": "Says hot weather.",
        "category": "Essential",
        "weight": 5.0,
    },
    {"title": "Demographic", "description": "Young boys.", "category": "Important", "weight": 3.0},
    {
        "title": "Wrong drug",
        "description": "Recommends steroids first.",
        "category": "Pitfall",
        "weight": -2.0,
    },
]
PROMPT = [{"role": "user", "content": "Which conjunctivitis recurs in hot weather?"}]


def verdicts(*met: bool) -> Reply:
    return Reply.json(
        {"verdicts": [{"index": i, "met": m, "rationale": "r"} for i, m in enumerate(met, 1)]}
    )


def judge(server: ScriptedLLM, mode: JudgeMode = JudgeMode.explicit) -> Judge:
    endpoint = EndpointConfig(
        base_url=server.base_url, model="judge-m", api_key_env=None, max_retries=0, reply_retries=0
    )
    return Judge(JudgeConfig(endpoint=endpoint, mode=mode, concurrency=4))


def call(func: Any, completions: list[str], **columns: Any) -> list[float]:
    """As TRL calls an async reward function: conversational prompts and completions."""
    n = len(completions)
    return asyncio.run(
        func(
            prompts=[PROMPT] * n,
            completions=[[{"role": "assistant", "content": c}] for c in completions],
            rubric=[RUBRIC] * n,
            reference_answer=["D. Vernal keratoconjunctivitis"] * n,
            **columns,
        )
    )


def test_rewards_and_category_rates_by_hand(llm_server: ScriptedLLM) -> None:
    # Completion A meets both essentials and makes the pitfall; B meets one essential
    # and avoids the pitfall. Replies are matched by content.
    def reply(body: dict[str, Any]) -> Reply:
        text = body["messages"][1]["content"]
        return (
            verdicts(True, True, False, True)
            if "answer A" in text
            else verdicts(True, False, False, False)
        )

    llm_server.respond_with(reply)
    logged: dict[str, float] = {}
    stats = RewardStats()
    rewards = call(
        make_reward_func(judge(llm_server), stats=stats),
        ["answer A", "answer B"],
        log_metric=logged.__setitem__,
    )

    # RaR Eq. 1: sum |w| s / sum |w| with s = met for w > 0, 1 - met for pitfalls; total 15.
    # A: 5 + 5 + 0 + 0 = 10; B: 5 + 0 + 0 + 2 = 7.
    assert rewards == pytest.approx([10 / 15, 7 / 15])
    assert logged["rubric/essential_met_rate"] == pytest.approx(3 / 4)
    assert logged["rubric/important_met_rate"] == 0
    assert logged["rubric/pitfall_hit_rate"] == pytest.approx(1 / 2)
    assert (logged["judge/completions"], logged["judge/failures"]) == (2, 0)
    assert logged["judge/latency_ms_mean"] >= 0 and logged["judge/tokens_in"] > 0
    assert [s["reward"] for s in stats.samples] == pytest.approx([10 / 15, 7 / 15])
    assert stats.samples[0]["verdicts"][3] == {
        "title": "Wrong drug",
        "category": "Pitfall",
        "weight": -2.0,
        "met": True,
        "rationale": "r",
    }
    # The judge saw the conversation's user turn and the completion as data.
    sent = llm_server.chat_requests[0].text
    assert "Which conjunctivitis recurs in hot weather?" in sent and "answer" in sent


def test_a_failed_judgment_gets_the_fallback_and_is_counted(llm_server: ScriptedLLM) -> None:
    llm_server.respond_with(
        lambda body: (
            Reply.text("not json")
            if "answer B" in body["messages"][1]["content"]
            else verdicts(True, True, True, False)
        )
    )
    stats = RewardStats()
    logged: dict[str, float] = {}
    func = make_reward_func(
        judge(llm_server), fallback_reward=0.1, max_failure_rate=0.5, stats=stats
    )
    rewards = call(func, ["answer A", "answer B"], log_metric=logged.__setitem__)

    assert rewards == pytest.approx([1.0, 0.1])
    assert (logged["judge/failures"], logged["judge/failure_rate"]) == (1, 0.5)
    assert stats.abort is None  # 1 of 2 is not more than max_failure_rate 0.5
    assert stats.samples[1]["ok"] is False and "no valid reply" in stats.samples[1]["error"]
    # A failed judgment's verdicts count toward no category rate.
    assert logged["rubric/essential_met_rate"] == 1.0


def test_too_many_failures_flag_the_run_to_stop(llm_server: ScriptedLLM) -> None:
    llm_server.respond_with(lambda _body: Reply.error(400, "bad request"))
    stats = RewardStats()
    func = make_reward_func(judge(llm_server), max_failure_rate=0.25, stats=stats)
    assert call(func, ["answer A", "answer B"]) == [0.0, 0.0]
    assert stats.abort is not None
    assert stats.abort.startswith("the judge failed on 2 of 2 completions in one step")
    assert "400" in stats.abort or "bad request" in stats.abort


def test_counts_are_scaled_to_sums_over_processes(llm_server: ScriptedLLM) -> None:
    # TRL averages a logged metric over processes; 2 processes x 2 completions each.
    llm_server.respond_with(lambda _body: verdicts(True, True, True, False))
    logged: dict[str, float] = {}
    call(
        make_reward_func(judge(llm_server), processes=2), ["a", "b"], log_metric=logged.__setitem__
    )
    assert logged["judge/completions"] == 4
    assert logged["judge/failure_rate"] == 0


def test_implicit_mode_reports_the_rating(llm_server: ScriptedLLM) -> None:
    llm_server.respond_with(lambda _body: Reply.json({"rating": 7}))
    logged: dict[str, float] = {}
    rewards = call(
        make_reward_func(judge(llm_server, JudgeMode.implicit)),
        ["a", "b"],
        log_metric=logged.__setitem__,
    )
    assert rewards == pytest.approx([6 / 9, 6 / 9])
    assert logged["judge/rating_mean"] == 7
    assert not any(k.startswith("rubric/") for k in logged)  # no per-criterion verdicts
    assert "[Essential]" in json.dumps(llm_server.chat_requests[0].body)  # the rubric was sent
