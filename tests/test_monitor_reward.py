"""The drift monitor wrapped around a reward function, called the way TRL calls it
(keyword columns, `trainer_state`, `log_metric`), with the real judge over HTTP to the
scripted server. No training: the schedule and the numbers, one call at a time."""

from __future__ import annotations

import asyncio
import re
from types import SimpleNamespace
from typing import Any

import pytest
from llm_server import Reply, ScriptedLLM
from rubricforge.models.core.errors import LLMConfigError
from rubricforge.models.training.config import parse_job_config
from rubricforge.models.training.divergence import FAILURES_KEY, FREE_KEY, RUBRIC_KEY, SAMPLES_KEY
from rubricforge.trainer.extra_rewards import build_monitor_judge, with_monitor

PROMPTS = [[{"role": "user", "content": f"Question {i}"}] for i in range(4)]
# The scripted judge rates completion i as i + 1 (1-10), i.e. a score of i / 9.
COMPLETIONS = [[{"role": "assistant", "content": f"completion {i}"}] for i in range(4)]
RUBRIC_REWARDS = [0.1, 0.2, 0.3, 0.4]
REFERENCE = "The reference says 42."


def rate(body: dict[str, Any]) -> Reply:
    found = re.search(r"completion (\d)", body["messages"][1]["content"])
    assert found is not None
    return Reply.json({"rating": int(found.group(1)) + 1})


def config(server: ScriptedLLM, **monitor: Any) -> Any:
    return parse_job_config(
        {
            "model_name_or_path": "policy",
            "seed": 7,
            "judge": {"base_url": server.base_url, "model": "judge-m", "api_key_env": "none",
                      "mode": "explicit"},
            "monitor": monitor,
        }
    )  # fmt: skip


async def rubric_reward(prompts: list[Any], completions: list[Any], **_: Any) -> list[float]:
    """The rubric reward's stand-in: a fixed reward per completion."""
    return RUBRIC_REWARDS[: len(completions)]


def call(reward: Any, global_step: int) -> tuple[list[float], dict[str, float]]:
    logged: dict[str, float] = {}
    out = asyncio.run(
        reward(
            prompts=PROMPTS,
            completions=COMPLETIONS,
            rubric=[[]] * 4,
            reference_answer=[REFERENCE] * 4,
            trainer_state=SimpleNamespace(global_step=global_step),
            log_metric=logged.__setitem__,
        )
    )
    return out, logged


def test_every_completion_sampled_gives_the_exact_means(llm_server: ScriptedLLM) -> None:
    llm_server.respond_with(rate)
    cfg = config(llm_server, every_steps=1, sample_size=10)  # more than there are
    reward = with_monitor(rubric_reward, build_monitor_judge(cfg), cfg.monitor, seed=cfg.seed)
    rewards, logged = call(reward, global_step=0)
    assert rewards == RUBRIC_REWARDS  # the training reward is untouched
    assert logged[SAMPLES_KEY] == 4 and logged[FAILURES_KEY] == 0
    assert logged[RUBRIC_KEY] == pytest.approx(0.25)
    assert logged[FREE_KEY] == pytest.approx((0 + 1 + 2 + 3) / 9 / 4)
    # Rubric-free: neither the rubric nor the reference answer reached the judge.
    assert len(llm_server.chat_requests) == 4
    for request in llm_server.chat_requests:
        assert "RUBRIC" not in request.text and REFERENCE not in request.text


def test_reference_likert_shows_the_judge_the_reference(llm_server: ScriptedLLM) -> None:
    llm_server.respond_with(rate)
    cfg = config(llm_server, every_steps=1, sample_size=4, mode="reference_likert")
    reward = with_monitor(rubric_reward, build_monitor_judge(cfg), cfg.monitor, seed=cfg.seed)
    _, logged = call(reward, global_step=0)
    assert logged[FREE_KEY] == pytest.approx(6 / 9 / 4)
    assert all(REFERENCE in r.text for r in llm_server.chat_requests)


def test_a_sample_pairs_each_rubric_reward_with_its_own_score(llm_server: ScriptedLLM) -> None:
    llm_server.respond_with(rate)
    cfg = config(llm_server, every_steps=1, sample_size=2)
    reward = with_monitor(rubric_reward, build_monitor_judge(cfg), cfg.monitor, seed=cfg.seed)
    _, logged = call(reward, global_step=0)
    picked = [int(re.search(r"completion (\d)", r.text).group(1)) for r in llm_server.chat_requests]  # type: ignore[union-attr]
    assert len(set(picked)) == 2
    assert logged[RUBRIC_KEY] == pytest.approx(sum(RUBRIC_REWARDS[i] for i in picked) / 2)
    assert logged[FREE_KEY] == pytest.approx(sum(i / 9 for i in picked) / 2)


def test_the_schedule_follows_steps_even_when_generation_skips_some(
    llm_server: ScriptedLLM,
) -> None:
    llm_server.respond_with(rate)
    cfg = config(llm_server, every_steps=3, sample_size=1)
    reward = with_monitor(rubric_reward, build_monitor_judge(cfg), cfg.monitor, seed=cfg.seed)
    # TRL with num_iterations=2 generates before optimizer steps 1, 3, 5, 7, 9.
    monitored = [s + 1 for s in (0, 2, 4, 6, 8) if SAMPLES_KEY in call(reward, s)[1]]
    assert monitored == [3, 7, 9]  # the first generation in each period of 3 steps
    assert len(llm_server.chat_requests) == 3


def test_a_missing_monitor_key_fails_at_launch_with_the_variable_named(
    llm_server: ScriptedLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RF_MONITOR_KEY", raising=False)
    cfg = config(llm_server, every_steps=5, api_key_env="RF_MONITOR_KEY")
    with pytest.raises(LLMConfigError, match="RF_MONITOR_KEY is not set"):
        build_monitor_judge(cfg)
    assert build_monitor_judge(config(llm_server)) is None  # off: nothing to build
