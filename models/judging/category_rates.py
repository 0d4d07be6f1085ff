"""Per-category pass rates of a batch of judgments, in every reward preset.

A criterion passes when it went its good way (rewards.pass_counts): an Essential
criterion met, a pitfall avoided. The explicit presets on the prompt's rubric get
the counts from the reward's own verdicts; the rating presets (implicit, the Likert
baselines) and the predefined rubric judge no prompt criterion one by one, so an
explicit judge checks an evenly spaced sample of the batch against each prompt's own
rubric (`sample_pass_counts`; the reward is untouched). The trainer's step metrics
and the reward preview both report them through `rate_metrics`, with the same names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rubricforge.models.judging.judge import Judge, JudgeItem, JudgeResult
from rubricforge.models.judging.rewards import pass_counts
from rubricforge.models.rubrics.orm import Category

CategoryCounts = dict[Category, tuple[int, int]]  # category -> (passed, judged)


def add_counts(total: CategoryCounts, more: Mapping[Category, tuple[int, int]]) -> None:
    for category, (passed, judged) in more.items():
        p0, j0 = total.get(category, (0, 0))
        total[category] = (p0 + passed, j0 + judged)


def result_counts(item: JudgeItem, result: JudgeResult) -> CategoryCounts:
    """The counts of one explicit judgment of the item's own criteria (none if it failed)."""
    if not result.ok or len(result.verdicts) != len(item.criteria):
        return {}
    return pass_counts(
        [c.category for c in item.criteria],
        [c.weight for c in item.criteria],
        [v.met if v.ok else None for v in result.verdicts],
    )


async def sample_pass_counts(
    judge: Judge, items: Sequence[JudgeItem], n: int
) -> tuple[CategoryCounts, int]:
    """Counts over up to `n` of `items`, evenly spaced (a batch holds GRPO groups
    prompt by prompt, so the sample spans its prompts), judged by the explicit
    `judge` against each item's own rubric; and how many judgments succeeded.
    Failed judgments count nowhere."""
    with_rubric = [i for i in items if i.criteria]
    if n <= 0 or not with_rubric:
        return {}, 0
    picked = with_rubric[:: max(1, len(with_rubric) // n)][:n]
    totals: CategoryCounts = {}
    ok = 0
    for item, result in zip(picked, await judge.judge_many(picked), strict=True):
        if result.ok:
            ok += 1
            add_counts(totals, result_counts(item, result))
    return totals, ok


def rate_metrics(counts: Mapping[Category, tuple[int, int]]) -> dict[str, float]:
    """`rubric/<category>_met_rate`: the share of Essential, Important and Optional
    criteria that passed; `rubric/pitfall_hit_rate`: the share of pitfalls the
    response fell into (1 - their pass rate), whichever way they are phrased."""
    out = {}
    for category, (passed, judged) in counts.items():
        if not judged:
            continue
        if category is Category.pitfall:
            out["rubric/pitfall_hit_rate"] = 1 - passed / judged
        else:
            out[f"rubric/{category.value.lower()}_met_rate"] = passed / judged
    return out
