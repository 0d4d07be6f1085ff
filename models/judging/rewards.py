"""Reward aggregation, exactly as SPEC.md section 2 gives it. Pure functions.

c_j in {0, 1} is the judge's "met" for criterion j; w_j its signed weight
(positive = good when met, negative = bad when met).
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


def _check(weights: Sequence[float], met: Sequence[bool]) -> None:
    if len(weights) != len(met):
        raise ValueError(f"{len(weights)} weights but {len(met)} verdicts")
    if any(not math.isfinite(w) for w in weights):
        raise ValueError("weights must be finite numbers")


def points_reward(weights: Sequence[float], met: Sequence[bool]) -> float:
    """HealthBench: r = clip(sum_j w_j c_j / sum_{w_j > 0} w_j, 0, 1).

    A rubric without positive weights has nothing to earn: the reward is 0.
    """
    _check(weights, met)
    possible = sum(w for w in weights if w > 0)
    if possible <= 0:
        return 0.0
    achieved = sum(w for w, c in zip(weights, met, strict=True) if c)
    return min(1.0, max(0.0, achieved / possible))


def rar_explicit_reward(weights: Sequence[float], met: Sequence[bool]) -> float:
    """RaR Eq. 1: each criterion counts in its good direction.

    s_j = c_j if w_j > 0 else 1 - c_j;  r = sum_j |w_j| s_j / sum_j |w_j|.
    An empty (or all-zero) rubric gives 0: there is no evidence of quality.
    """
    _check(weights, met)
    total = sum(abs(w) for w in weights)
    if total == 0:
        return 0.0
    good = sum(abs(w) * (c if w > 0 else not c) for w, c in zip(weights, met, strict=True))
    return good / total


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
