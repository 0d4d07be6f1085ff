"""Reward aggregation, exactly as RaR gives it (Gunjal et al. 2025, arXiv 2507.17746,
Eq. 1) and HealthBench's points, and the reward presets a training job selects.
Pure functions.

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
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from rubricforge.models.core.text_safety import clean_text
from rubricforge.models.judging.orm import JudgeMode
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
    categories: Sequence[Category],
    mapping: Mapping[Category, float] = RAR_CATEGORY_WEIGHTS,
    signs: Sequence[float] | None = None,
) -> list[float]:
    """Weights from a per-category map. The size comes from the map; the sign (the
    polarity) from the rubric's own weight when `signs` are given, so an avoidance
    pitfall ("Avoids X", positive weight) still counts for the response when met and
    a failure pitfall ("Recommends X", negative weight) against it; a weight of 0
    stays 0 (the expert switched the criterion off). Without `signs`, pitfalls count
    against."""
    if signs is None:
        return [-abs(mapping[c]) if c is Category.pitfall else abs(mapping[c]) for c in categories]
    if len(signs) != len(categories):
        raise ValueError(f"{len(signs)} weights but {len(categories)} categories")
    pairs = zip(categories, signs, strict=True)
    return [math.copysign(abs(mapping[c]), w) if w else 0.0 for c, w in pairs]


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
    categories: Sequence[Category] = (),
    category_map: Mapping[Category, float] | None = None,
) -> float:
    """The reward of one judgment, the one function the judge, the trainer's reward
    and the preview all score with: a holistic 1-10 `rating` (implicit and Likert
    judges) maps to [0, 1]; per-criterion verdicts are aggregated as `aggregation`
    says: points (HealthBench), otherwise RaR Eq. 1 (`implicit` names the rating,
    so verdicts under it count as rar_explicit, as the judge always did). With a
    `category_map` the weights are the map's, signed by the rubric's weights
    (`category_weights`). Always finite, in [0, 1]."""
    if rating is not None:
        return implicit_reward(rating)
    if category_map is not None:
        weights = category_weights(categories, category_map, signs=weights)
    if aggregation is Aggregation.points:
        return points_reward(weights, met)
    return rar_explicit_reward(weights, met)


def pass_counts(
    categories: Sequence[Category], weights: Sequence[float], met: Sequence[bool | None]
) -> dict[Category, tuple[int, int]]:
    """Per category, (passed, judged): a criterion passes when it went its good way
    (met with a positive weight, not met with a negative one), so an avoided pitfall
    passes whichever way it is phrased. Verdicts of None (failed) are not counted."""
    out: dict[Category, tuple[int, int]] = {}
    for c, w, m in zip(categories, weights, met, strict=True):
        if m is not None:
            passed, judged = out.get(c, (0, 0))
            out[c] = (passed + int(m == (w >= 0)), judged + 1)
    return out


class RewardPreset(str, Enum):
    """The rewards a training job can select (`judge.preset`); README "Reward presets"."""

    rar_explicit_categories = "rar_explicit_categories"
    rar_explicit_weights = "rar_explicit_weights"
    points = "points"
    implicit = "implicit"
    direct_likert = "direct_likert"
    reference_likert = "reference_likert"
    predefined = "predefined"


@dataclass(frozen=True)
class Preset:
    """What a preset asks of the judge and how its answer becomes the reward."""

    mode: JudgeMode
    aggregation: Aggregation  # `implicit`: the reward is the 1-10 rating
    rubric: Literal["prompt", "predefined", "none"]  # whose criteria the judge sees
    category_map: Mapping[Category, float] | None  # None: the rubric's own weights
    summary: str

    @property
    def verdicts(self) -> bool:
        """One met/not-met verdict per criterion (else one 1-10 rating)."""
        return self.mode is JudgeMode.explicit

    @property
    def judges_prompt_criteria(self) -> bool:
        """The reward's own verdicts are on the prompt's criteria, so they give the
        per-category rates; other presets get them from an explicit sample."""
        return self.verdicts and self.rubric == "prompt"


PRESETS: dict[RewardPreset, Preset] = {
    RewardPreset.rar_explicit_categories: Preset(
        JudgeMode.explicit, Aggregation.rar_explicit, "prompt", RAR_CATEGORY_WEIGHTS,
        "RaR Eq. 1 with the paper's category weights (Essential 1.0, Important 0.7, "
        "Optional 0.3, Pitfall 0.9), signed by each criterion's polarity",
    ),
    RewardPreset.rar_explicit_weights: Preset(
        JudgeMode.explicit, Aggregation.rar_explicit, "prompt", None,
        "RaR Eq. 1 with the rubric's own signed weights",
    ),
    RewardPreset.points: Preset(
        JudgeMode.explicit, Aggregation.points, "prompt", None,
        "HealthBench points: met weights over the positive total, clipped to [0, 1]",
    ),
    RewardPreset.implicit: Preset(
        JudgeMode.implicit, Aggregation.implicit, "prompt", None,
        "RaR-Implicit: one 1-10 rating from the whole rubric, (rating - 1) / 9",
    ),
    RewardPreset.direct_likert: Preset(
        JudgeMode.likert, Aggregation.implicit, "none", None,
        "Direct-Likert baseline: one 1-10 rating, no rubric",
    ),
    RewardPreset.reference_likert: Preset(
        JudgeMode.reference_likert, Aggregation.implicit, "none", None,
        "Reference-Likert baseline: one 1-10 rating against the reference answer, no rubric",
    ),
    RewardPreset.predefined: Preset(
        JudgeMode.explicit, Aggregation.rar_explicit, "predefined", None,
        "Predefined-rubric baseline: one generic rubric for every prompt, RaR Eq. 1",
    ),
}  # fmt: skip


def _shown(value: object) -> str:
    """A user's value in a message: NUL-free and short."""
    return clean_text(str(value)[:60])[0]


def legacy_preset(mode: str | None, aggregation: str | None) -> RewardPreset:
    """The preset an older judge config (`mode`, `aggregation`) meant; ValueError for a
    combination that contradicts itself. A missing mode was implicit (the old default),
    and the rating modes ignored an aggregation of rar_explicit (the old default)."""
    try:
        judge_mode = JudgeMode(JudgeMode.implicit.value if mode is None else mode)
    except ValueError:
        raise ValueError(
            f"mode '{_shown(mode)}' is not one of {', '.join(m.value for m in JudgeMode)}"
        ) from None
    try:
        agg = Aggregation(Aggregation.rar_explicit.value if aggregation is None else aggregation)
    except ValueError:
        raise ValueError(
            f"aggregation '{_shown(aggregation)}' is not one of "
            f"{', '.join(a.value for a in Aggregation)}"
        ) from None
    if judge_mode is JudgeMode.explicit:
        if agg is Aggregation.implicit:
            raise ValueError(
                "mode explicit gives one verdict per criterion, but aggregation implicit is a "
                "1-10 rating: choose preset rar_explicit_weights, points or implicit"
            )
        return (
            RewardPreset.points if agg is Aggregation.points else RewardPreset.rar_explicit_weights
        )
    if agg is Aggregation.points:
        raise ValueError(
            f"aggregation points needs one verdict per criterion, but mode {judge_mode.value} "
            "gives one 1-10 rating: choose preset points, or drop the aggregation"
        )
    return {
        JudgeMode.implicit: RewardPreset.implicit,
        JudgeMode.likert: RewardPreset.direct_likert,
        JudgeMode.reference_likert: RewardPreset.reference_likert,
    }[judge_mode]
