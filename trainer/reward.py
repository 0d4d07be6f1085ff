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
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from rubricforge.models.core.errors import RubricforgeError
from rubricforge.models.data.snapshot_rows import criteria_from_column, prompt_text
from rubricforge.models.judging.judge import Judge, JudgeItem, JudgeResult
from rubricforge.models.rubrics.orm import Category

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
    # category -> [met, judged]; for pitfalls "met" means the mistake was made.
    by_category: dict[Category, list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0])
    )
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
        for category, (met, judged) in self.by_category.items():
            if judged:
                name = (
                    "pitfall_hit_rate"
                    if category is Category.pitfall
                    else (f"{category.value.lower()}_met_rate")
                )
                out[f"rubric/{name}"] = met / judged
        return out


@dataclass
class RewardStats:
    """Shared with the training loop: the last step, its sample completions, and the
    reason to stop the run when too many of the step's judgments failed."""

    last: StepStats | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)
    abort: str | None = None


def _sample(item: JudgeItem, result: JudgeResult, reward: float) -> dict[str, Any]:
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
            for c, v in zip(item.criteria, result.verdicts, strict=False)
        ],
    }


def _tally(stats: StepStats, item: JudgeItem, result: JudgeResult) -> None:
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
    for criterion, verdict in zip(item.criteria, result.verdicts, strict=False):
        if verdict.ok and verdict.met is not None:
            counts = stats.by_category[criterion.category]
            counts[0] += int(verdict.met)
            counts[1] += 1


def make_reward_func(
    judge: Judge,
    *,
    fallback_reward: float = 0.0,
    max_failure_rate: float = 0.25,
    stats: RewardStats | None = None,
    samples_per_step: int = 4,
    processes: int = 1,
) -> RewardFunc:
    """An async TRL reward function `(prompts, completions, rubric, **columns) -> rewards`.

    Per-step judge metrics go to TRL's `log_metric` when TRL passes it (so they are
    averaged over the logging window with the built-in ones) and to `stats`.
    `processes`: how many processes share each step (accelerate's num_processes).
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
        results = await judge.judge_many(items)
        step = StepStats(wall_s=time.perf_counter() - started)
        rewards = []
        for item, result in zip(items, results, strict=True):
            _tally(step, item, result)
            rewards.append(result.reward_or(fallback_reward))
        shared.last = step
        shared.samples = [
            _sample(i, r, w) for i, r, w in zip(items, results, rewards, strict=True)
        ][:samples_per_step]
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
