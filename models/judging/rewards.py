"""Reward aggregation, exactly as RaR gives it (Gunjal et al. 2025, arXiv 2507.17746,
Eq. 1) and HealthBench's points. Pure functions.

c_j in {0, 1} is the judge's "met" for criterion j; w_j its signed weight
(positive = good when met, negative = bad when met). `aggregate` picks the
formula for a judge's aggregation; callers never choose one by hand.

Every formula is a ratio of weight sums, so it is unchanged when all weights are
scaled by one factor: the weights are first divided by the largest |w_j|, then
summed with math.fsum. Huge weights (1e308, whose plain sum overflows to inf
and gives inf/inf = NaN) and tiny ones score like ordinary ones: a reward is
always a finite number in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from enum import Enum

from rubricforge.models.rubrics.orm import Category

# The weights RaR trained with when weights come from the category (paper, Sec. 3).
RAR_CATEGORY_WEIGHTS: dict[Category, float] = {
    Category.essential: 1.0,
    Category.important: 0.7,
    Category.optional: 0.3,
    Category.pitfall: 0.9,
}


class Aggregation(str, Enum):
    points = "points"  # HealthBench
    rar_explicit = "rar_explicit"  # RaR Eq. 1
    implicit = "implicit"  # one 1-10 rating from the whole rubric


def _scaled(weights: Sequence[float], met: Sequence[bool]) -> list[float]:
    """The weights divided by the largest |w| (all zero stays all zero), checked."""
    if len(weights) != len(met):
        raise ValueError(f"{len(weights)} weights but {len(met)} verdicts")
    if any(not math.isfinite(w) for w in weights):
        raise ValueError("weights must be finite numbers")
    top = max((abs(w) for w in weights), default=0.0)
    return [w / top for w in weights] if top > 0 else [0.0 for _ in weights]


def points_reward(weights: Sequence[float], met: Sequence[bool]) -> float:
    """HealthBench: r = clip(sum_j w_j c_j / sum_{w_j > 0} w_j, 0, 1).

    A rubric without positive weights has nothing to earn: the reward is 0.
    """
    scaled = _scaled(weights, met)
    possible = math.fsum(w for w in scaled if w > 0)
    if possible <= 0:
        return 0.0
    achieved = math.fsum(w for w, c in zip(scaled, met, strict=True) if c)
    return min(1.0, max(0.0, achieved / possible))


def rar_explicit_reward(weights: Sequence[float], met: Sequence[bool]) -> float:
    """RaR Eq. 1: each criterion counts in its good direction.

    s_j = c_j if w_j > 0 else 1 - c_j;  r = sum_j |w_j| s_j / sum_j |w_j|.
    An empty (or all-zero) rubric gives 0: there is no evidence of quality.
    """
    scaled = _scaled(weights, met)
    total = math.fsum(abs(w) for w in scaled)
    if total == 0:
        return 0.0
    good = math.fsum(abs(w) for w, c in zip(scaled, met, strict=True) if c == (w > 0))
    return min(1.0, good / total)


def category_weights(
    categories: Sequence[Category], mapping: Mapping[Category, float] = RAR_CATEGORY_WEIGHTS
) -> list[float]:
    """Signed weights from a per-category map: pitfalls count against."""
    return [-abs(mapping[c]) if c is Category.pitfall else abs(mapping[c]) for c in categories]


def implicit_reward(rating: float) -> float:
    """The judge's 1-10 rating mapped to [0, 1]: (rating - 1) / 9."""
    if not 1 <= rating <= 10:
        raise ValueError(f"rating must be within 1-10, got {rating}")
    return (rating - 1) / 9


def aggregate(
    aggregation: Aggregation,
    weights: Sequence[float] = (),
    met: Sequence[bool] = (),
    *,
    rating: float | None = None,
) -> float:
    """The reward of one judgment: a holistic 1-10 `rating` (implicit and Likert
    judges) maps to [0, 1]; per-criterion verdicts are aggregated as `aggregation`
    says: points (HealthBench), otherwise RaR Eq. 1 (`implicit` names the rating,
    so verdicts under it count as rar_explicit, as the judge always did).
    Always finite, in [0, 1]."""
    if rating is not None:
        return implicit_reward(rating)
    if aggregation is Aggregation.points:
        return points_reward(weights, met)
    return rar_explicit_reward(weights, met)
