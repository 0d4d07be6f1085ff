"""The rubric reward: a TRL reward function built on the judge engine.

TRL calls it once per generation batch with every completion of the step (of
this process, in a multi-GPU run) and the dataset's other columns (`rubric`,
`reference_answer`, ...) as keyword arguments. All completions are judged
concurrently (`Judge.judge_many`, bounded concurrency, retries inside the
judge). A completion whose judgment still fails gets the configured fallback
reward and is counted: the count goes to the step's metrics, and a step where
too many fail is flagged (`RewardStats.abort`) so the training loop stops the run
with that error at the end of the step: a dead judge never silently trains the
policy on fallbacks.

The reward is the job's preset (models/judging/rewards.py), scored by the judge's
`aggregate`, the same function the reward preview uses. Per-category pass rates go
to the step metrics in every preset: from the reward's own verdicts, or, for the
rating presets and the predefined rubric, from an explicit judgment of a sample of
the step's completions against their rubric (`sample_judge`, judged concurrently
with the reward; models/judging/category_rates.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from rubricforge.models.core.errors import RubricforgeError
from rubricforge.models.data.snapshot_rows import criteria_from_column, prompt_text
from rubricforge.models.judging.category_rates import (
    CategoryCounts,
    add_counts,
    rate_metrics,
    result_counts,
    sample_pass_counts,
)
from rubricforge.models.judging.judge import Judge, JudgeItem, JudgeResult

RewardFunc = Callable[..., Coroutine[Any, Any, list[float]]]
_SAMPLE_TEXT_MAX = 2000  # characters of prompt/completion kept per sample row


class JudgeFailureError(RubricforgeError):
    """Too many judgments of one step failed for the rewards to mean anything."""


@dataclass
class StepStats:
    """What the judge did for one generation batch."""

    completions: int = 0
    failures: int = 0
    cached: int = 0
    wall_s: float = 0.0
    latencies_ms: list[int] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    ratings: list[float] = field(default_factory=list)
    # category -> (passed, judged): a criterion passed when it went its good way.
    by_category: CategoryCounts = field(default_factory=dict)
    rated: int = 0  # completions the category counts come from
    first_error: str | None = None

    def metrics(self, processes: int = 1) -> dict[str, float]:
        """The step's judge metrics. TRL averages logged metrics over processes, so
        counts are scaled by the process count to come out as sums."""
        out = {
            "judge/completions": float(self.completions * processes),
            "judge/failures": float(self.failures * processes),
            "judge/failure_rate": self.failures / self.completions if self.completions else 0.0,
            "judge/cached_rate": self.cached / self.completions if self.completions else 0.0,
            "judge/wall_s": self.wall_s,
            "judge/tokens_in": float(self.tokens_in * processes),
            "judge/tokens_out": float(self.tokens_out * processes),
        }
        if self.latencies_ms:
            ordered = sorted(self.latencies_ms)
            out["judge/latency_ms_mean"] = sum(ordered) / len(ordered)
            out["judge/latency_ms_p95"] = float(
                ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
            )
        if self.ratings:
            out["judge/rating_mean"] = sum(self.ratings) / len(self.ratings)
        if self.by_category:
            out.update(rate_metrics(self.by_category))
            out["rubric/rated_completions"] = float(self.rated * processes)
        return out


@dataclass
class RewardStats:
    """Shared with the training loop: the last step, its sample completions, and the
    reason to stop the run when too many of the step's judgments failed."""

    last: StepStats | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)
    abort: str | None = None


def _sample(judge: Judge, item: JudgeItem, result: JudgeResult, reward: float) -> dict[str, Any]:
    return {
        "prompt": item.prompt[:_SAMPLE_TEXT_MAX],
        "completion": item.response[:_SAMPLE_TEXT_MAX],
        "reward": reward,
        "ok": result.ok,
        "error": result.error,
        "rating": result.rating,
        "verdicts": [
            {
                "title": c.title,
                "category": c.category.value,
                "weight": c.weight,
                "met": v.met,
                "rationale": v.rationale,
            }
            for c, v in zip(judge.criteria_for(item), result.verdicts, strict=False)
        ],
    }


def _tally(stats: StepStats, item: JudgeItem, result: JudgeResult, rates: bool) -> None:
    stats.completions += 1
    if result.cached:
        stats.cached += 1
    else:
        stats.latencies_ms.append(result.latency_ms)
    stats.tokens_in += result.tokens_in
    stats.tokens_out += result.tokens_out
    if not result.ok or result.reward is None:
        stats.failures += 1
        stats.first_error = stats.first_error or result.error
        return
    if result.rating is not None:
        stats.ratings.append(result.rating)
    if rates:  # the reward's verdicts are on the item's own criteria
        counts = result_counts(item, result)
        stats.rated += bool(counts)
        add_counts(stats.by_category, counts)


def make_reward_func(
    judge: Judge,
    *,
    fallback_reward: float = 0.0,
    max_failure_rate: float = 0.25,
    stats: RewardStats | None = None,
    samples_per_step: int = 4,
    processes: int = 1,
    sample_judge: Judge | None = None,
    category_sample: int = 8,
) -> RewardFunc:
    """An async TRL reward function `(prompts, completions, rubric, **columns) -> rewards`.

    Per-step judge metrics go to TRL's `log_metric` when TRL passes it (so they are
    averaged over the logging window with the built-in ones) and to `stats`.
    `processes`: how many processes share each step (accelerate's num_processes).
    `sample_judge`: an explicit judge that checks `category_sample` of the step's
    completions against their rubric for the per-category rates, when the reward's
    own judgments have no verdicts on the prompt's criteria.
    """
    shared = stats if stats is not None else RewardStats()

    async def rubric_reward(
        prompts: list[Any],
        completions: list[Any],
        rubric: list[list[dict[str, Any]]],
        reference_answer: list[str] | None = None,
        log_metric: Callable[[str, float], None] | None = None,
        **_: Any,
    ) -> list[float]:
        items = [
            JudgeItem(
                prompt=prompt_text(p),
                response=prompt_text(c),
                criteria=criteria_from_column(r),
                reference_answer=reference_answer[i] if reference_answer else None,
            )
            for i, (p, c, r) in enumerate(zip(prompts, completions, rubric, strict=True))
        ]
        started = time.perf_counter()
        if sample_judge is not None:
            results, (counts, rated) = await asyncio.gather(
                judge.judge_many(items), sample_pass_counts(sample_judge, items, category_sample)
            )
        else:
            results, counts, rated = await judge.judge_many(items), {}, 0
        step = StepStats(wall_s=time.perf_counter() - started, by_category=counts, rated=rated)
        rewards = []
        for item, result in zip(items, results, strict=True):
            _tally(step, item, result, rates=sample_judge is None and not judge.config.predefined)
            rewards.append(result.reward_or(fallback_reward))
        shared.last = step
        shared.samples = [
            _sample(judge, i, r, w)
            for i, r, w in list(zip(items, results, rewards, strict=True))[:samples_per_step]
        ]
        if log_metric is not None:
            for name, value in step.metrics(processes).items():
                log_metric(name, value)
        if step.completions and step.failures / step.completions > max_failure_rate:
            shared.abort = (
                f"the judge failed on {step.failures} of {step.completions} completions in one "
                f"step (more than max_failure_rate {max_failure_rate:g}); first error: "
                f"{step.first_error}. Check the judge endpoint, then resubmit the job."
            )
        return rewards

    return rubric_reward
