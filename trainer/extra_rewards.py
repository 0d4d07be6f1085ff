"""What the worker adds around the rubric reward: the verifiable rewards as extra
TRL reward functions, and the rubric-free drift monitor wrapped around the rubric
reward (see models/training/verifiable.py and models/training/divergence.py).

TRL weights the reward functions with GRPOConfig.reward_weights (trainer/config.py)
and logs each one's mean as `rewards/<function name>/mean`. The monitor adds its
numbers through TRL's `log_metric`, so they land in the same metrics row as the
step's other numbers.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from rubricforge.models.data.snapshot_rows import prompt_text
from rubricforge.models.judging.judge import Judge, JudgeConfig, JudgeItem
from rubricforge.models.judging.orm import JudgeMode
from rubricforge.models.training.config import JobConfig
from rubricforge.models.training.divergence import (
    FAILURES_KEY,
    FREE_KEY,
    RUBRIC_KEY,
    SAMPLES_KEY,
    MonitorSpec,
)
from rubricforge.models.training.reward_extras import monitor_endpoint
from rubricforge.models.training.verifiable import Scorer, VerifiableReward

from .reward import RewardFunc

SyncRewardFunc = Callable[..., list[float]]


def verifiable_names(rewards: Sequence[VerifiableReward]) -> list[str]:
    """Reward function names, as TRL's metrics show them: <kind>_reward, numbered from
    the second of a kind on (choice_reward, regex_reward, regex_reward_2)."""
    seen: Counter[str] = Counter()
    names = []
    for r in rewards:
        seen[r.kind] += 1
        n = seen[r.kind]
        names.append(f"{r.kind}_reward" + (f"_{n}" if n > 1 else ""))
    return names


def make_verifiable_funcs(rewards: Sequence[VerifiableReward]) -> list[SyncRewardFunc]:
    """One TRL reward function per verifiable reward: 1.0 or 0.0 per completion. A
    completion that cannot be checked (no usable reference answer, a regex timeout)
    gets 0.0 and is counted as verifiable/<name>/unchecked_rate."""
    funcs = []
    for reward, name in zip(rewards, verifiable_names(rewards), strict=True):
        funcs.append(_verifiable_func(Scorer(reward), name))
    return funcs


def _verifiable_func(scorer: Scorer, name: str) -> SyncRewardFunc:
    def func(
        prompts: list[Any],
        completions: list[Any],
        reference_answer: list[str] | None = None,
        log_metric: Callable[[str, float], None] | None = None,
        **_: Any,
    ) -> list[float]:
        refs: Sequence[str | None] = reference_answer or [None] * len(completions)
        values = [scorer(prompt_text(c), r) for c, r in zip(completions, refs, strict=True)]
        if log_metric is not None and values:
            unchecked = sum(v is None for v in values)
            log_metric(f"verifiable/{name}/unchecked_rate", unchecked / len(values))
        return [0.0 if v is None else v for v in values]

    func.__name__ = func.__qualname__ = name
    return func


def build_monitor_judge(cfg: JobConfig) -> Judge | None:
    """The rubric-free judge of the drift monitor, or None when the monitor is off."""
    if not cfg.monitor.enabled:
        return None
    endpoint = monitor_endpoint(cfg)
    endpoint.api_key()  # fail at launch, with the variable named, not at the first sample
    return Judge(
        JudgeConfig(
            endpoint=endpoint,
            mode=JudgeMode(cfg.monitor.mode),
            concurrency=cfg.judge.concurrency,
        ),
        keep_clients=True,  # on TRL's reward loop, as the reward's judge (run.build_judge)
    )


def with_monitor(reward: RewardFunc, judge: Judge, spec: MonitorSpec, *, seed: int) -> RewardFunc:
    """The rubric reward, plus, on monitored steps, a rubric-free score of a sample of
    the step's completions, judged concurrently with the rubric judge. Logs the sample's
    mean rubric reward (RUBRIC_KEY) and mean rubric-free score (FREE_KEY, the 1-10
    rating mapped to [0, 1]) over the judgments that succeeded, the sample size and
    the failures. A failing monitor never fails the step: it only logs fewer numbers."""
    scored = [0]  # the last monitoring period scored (MonitorSpec.period)

    async def rubric_reward(
        prompts: list[Any],
        completions: list[Any],
        reference_answer: list[str] | None = None,
        log_metric: Callable[[str, float], None] | None = None,
        trainer_state: Any = None,
        **columns: Any,
    ) -> list[float]:
        kwargs = dict(reference_answer=reference_answer, log_metric=log_metric, **columns)
        step = (getattr(trainer_state, "global_step", 0) or 0) + 1  # the step being trained
        period = spec.period(step)
        if period <= scored[0]:
            return await reward(prompts=prompts, completions=completions, **kwargs)
        scored[0] = period
        count = min(spec.sample_size, len(completions))
        picked = sorted(
            random.Random(seed * 1_000_003 + step).sample(range(len(completions)), count)
        )
        items = [
            JudgeItem(
                prompt=prompt_text(prompts[i]),
                response=prompt_text(completions[i]),
                reference_answer=reference_answer[i] if reference_answer else None,
            )
            for i in picked
        ]
        rewards, results = await asyncio.gather(
            reward(prompts=prompts, completions=completions, **kwargs), judge.judge_many(items)
        )
        pairs = [
            (rewards[i], r.reward)
            for i, r in zip(picked, results, strict=True)
            if r.ok and r.reward is not None
        ]
        if log_metric is not None:
            log_metric(SAMPLES_KEY, float(count))
            log_metric(FAILURES_KEY, float(count - len(pairs)))
            if pairs:
                log_metric(RUBRIC_KEY, sum(p[0] for p in pairs) / len(pairs))
                log_metric(FREE_KEY, sum(float(p[1]) for p in pairs) / len(pairs))
        return rewards

    return rubric_reward
