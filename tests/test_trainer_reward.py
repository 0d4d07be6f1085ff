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
from rubricforge.models.judging.rewards import PRESETS, RewardPreset
from rubricforge.models.llm.config import EndpointConfig
from rubricforge.models.training.judge_spec import JudgeSpec
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


# --- every reward preset, on the paper's example rubric ------------------------------
# Weights 5, 5, 4, 3, 2, 3, -1 with categories E, E, I, I, O, I, P. The scripted judge
# calls criteria 1, 3, 4 and the pitfall met (PAPER_MET), rates 7 with the rubric, 4
# without (Direct-Likert) and 9 against the reference (Reference-Likert), and on the
# predefined generic rubric calls criteria 1, 2, 4, 5 met and its pitfall avoided.
PAPER_RUBRIC = [
    {"title": f"Item {n}", "description": f"Says point {n}.", "category": cat, "weight": w}
    for n, (cat, w) in enumerate(
        zip(
            ["Essential", "Essential", "Important", "Important", "Optional", "Important",
             "Pitfall"],
            [5.0, 5.0, 4.0, 3.0, 2.0, 3.0, -1.0],
            strict=True,
        ),
        start=1,
    )
]  # fmt: skip
PAPER_MET = (True, False, True, True, False, False, True)
PREDEFINED_MET = (True, True, False, True, True, False, False)

HAND = {
    # RaR Eq. 1, rubric weights: sum |w| = 23; good = 5 + 4 + 3 (pitfall hit) -> 12/23
    RewardPreset.rar_explicit_weights: 12 / 23,
    # RaR Eq. 1, the paper's map signed by polarity: 1, 1, .7, .7, .3, .7, -.9;
    # sum |w| = 5.3; good = 1 + .7 + .7 = 2.4 -> 2.4/5.3
    RewardPreset.rar_explicit_categories: 2.4 / 5.3,
    # HealthBench: (5 + 4 + 3 - 1) / (5 + 5 + 4 + 3 + 2 + 3) = 11/22
    RewardPreset.points: 11 / 22,
    # ratings: (r - 1) / 9
    RewardPreset.implicit: (7 - 1) / 9,
    RewardPreset.direct_likert: (4 - 1) / 9,
    RewardPreset.reference_likert: (9 - 1) / 9,
    # predefined rubric (weights 5, 5, 4, 3, 2, 1, -2; sum |w| = 22): good = 5 + 5 + 3
    # + 2 + 2 (its pitfall avoided) = 17 -> 17/22
    RewardPreset.predefined: 17 / 22,
}


def paper_judge(body: dict[str, Any]) -> Reply:
    text = body["messages"][1]["content"]
    if "RUBRIC (" in text:  # explicit
        return verdicts(*(PREDEFINED_MET if "Correct answer" in text else PAPER_MET))
    if "Considering the whole rubric" in text:
        return Reply.json({"rating": 7})
    return Reply.json({"rating": 9 if "REFERENCE ANSWER" in text else 4})


def preset_spec(server: ScriptedLLM, preset: RewardPreset, **more: Any) -> JudgeSpec:
    return JudgeSpec(
        base_url=server.base_url, model="judge-m", api_key_env="none", max_retries=0,
        preset=preset, **more,
    )  # fmt: skip


def call_paper(func: Any, n: int = 2, **columns: Any) -> list[float]:
    return asyncio.run(
        func(
            prompts=[PROMPT] * n,
            completions=[[{"role": "assistant", "content": f"answer {i}"}] for i in range(n)],
            rubric=[PAPER_RUBRIC] * n,
            reference_answer=["D. Vernal keratoconjunctivitis"] * n,
            **columns,
        )
    )


@pytest.mark.parametrize("preset", list(RewardPreset))
def test_every_preset_by_hand_on_the_papers_rubric(
    llm_server: ScriptedLLM, preset: RewardPreset
) -> None:
    llm_server.respond_with(paper_judge)
    spec = preset_spec(llm_server, preset, category_sample=0)
    func = make_reward_func(Judge(spec.judge_config()))
    assert call_paper(func) == pytest.approx([HAND[preset]] * 2)
    sent = llm_server.chat_requests[0].text
    # The judge saw what the preset says: the prompt's rubric, the generic one, or none.
    assert ("Says point 1." in sent) == (preset not in PREDEFINED_OR_LIKERT)
    assert ("Correct answer" in sent) == (preset is RewardPreset.predefined)
    assert ("D. Vernal keratoconjunctivitis" in sent) == (preset is RewardPreset.reference_likert)


PREDEFINED_OR_LIKERT = {
    RewardPreset.predefined,
    RewardPreset.direct_likert,
    RewardPreset.reference_likert,
}


@pytest.mark.parametrize("preset", list(RewardPreset))
def test_per_category_rates_in_every_preset(llm_server: ScriptedLLM, preset: RewardPreset) -> None:
    # From the reward's own verdicts (explicit presets on the prompt's rubric) or from an
    # explicit sample of 3 of the 4 completions: the same counts. PAPER_MET passes:
    # Essential 1 of 2, Important 2 of 3 (4 and 3 met, 3 missed), Optional 0 of 1, and
    # the pitfall was hit.
    llm_server.respond_with(paper_judge)
    spec = preset_spec(llm_server, preset, category_sample=3)
    sample = spec.sample_judge_config()
    assert (sample is None) == PRESETS[preset].judges_prompt_criteria
    logged: dict[str, float] = {}
    func = make_reward_func(
        Judge(spec.judge_config()),
        sample_judge=Judge(sample) if sample else None,
        category_sample=spec.category_sample,
    )
    rewards = call_paper(func, n=4, log_metric=logged.__setitem__)
    assert rewards == pytest.approx([HAND[preset]] * 4)  # the sample leaves the reward alone
    assert logged["rubric/essential_met_rate"] == pytest.approx(1 / 2)
    assert logged["rubric/important_met_rate"] == pytest.approx(2 / 3)
    assert logged["rubric/optional_met_rate"] == 0
    assert logged["rubric/pitfall_hit_rate"] == 1
    assert logged["rubric/rated_completions"] == (4 if sample is None else 3)


def test_an_avoided_pitfall_is_no_hit_whichever_way_it_is_phrased(llm_server: ScriptedLLM) -> None:
    avoidance = {"title": "No aspirin", "description": "Avoids recommending aspirin.",
                 "category": "Pitfall", "weight": 2.0}  # fmt: skip
    failure = {"title": "Aspirin", "description": "Recommends aspirin.",
               "category": "Pitfall", "weight": -2.0}  # fmt: skip
    # The response recommends no aspirin: the avoidance is met, the failure is not.
    llm_server.respond_with(
        lambda body: (
            verdicts(True) if "Avoids" in body["messages"][1]["content"] else verdicts(False)
        )
    )
    spec = preset_spec(llm_server, RewardPreset.rar_explicit_categories)
    logged: dict[str, float] = {}
    rewards = asyncio.run(
        make_reward_func(Judge(spec.judge_config()))(
            prompts=[PROMPT] * 2,
            completions=[[{"role": "assistant", "content": "rest and fluids"}]] * 2,
            rubric=[[avoidance], [failure]],
            log_metric=logged.__setitem__,
        )
    )
    assert rewards == [1.0, 1.0]  # 0.9 / 0.9 each: the good direction both times
    assert logged["rubric/pitfall_hit_rate"] == 0
