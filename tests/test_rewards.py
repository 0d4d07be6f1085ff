"""Reward formulas against hand-computed cases (RaR Eq. 1, HealthBench points)."""

from __future__ import annotations

import math

import pytest
from rubricforge.models.judging.rewards import (
    Aggregation,
    aggregate,
    category_weights,
    implicit_reward,
    points_reward,
    rar_explicit_reward,
)
from rubricforge.models.rubrics.orm import Category

# The categories by their initials.
E, I, O, P = Category.essential, Category.important, Category.optional, Category.pitfall  # noqa: E741


def test_points_counts_pitfall_hits_against_possible_positive_points() -> None:
    weights = [5, 3, 1, -2]
    # met: essential, optional, and the pitfall was hit -> (5 + 1 - 2) / 9
    assert points_reward(weights, [True, False, True, True]) == pytest.approx(4 / 9)
    # all good, pitfall avoided -> 9/9
    assert points_reward(weights, [True, True, True, False]) == 1.0


def test_points_clips_to_zero_and_one() -> None:
    assert points_reward([1, -5], [False, True]) == 0.0  # -5 / 1 clipped
    assert points_reward([2, 2], [True, True]) == 1.0


def test_points_all_negative_and_empty_rubrics_give_zero() -> None:
    assert points_reward([-1, -2], [False, False]) == 0.0
    assert points_reward([], []) == 0.0


def test_rar_explicit_counts_each_criterion_in_its_good_direction() -> None:
    weights = [5, 3, -2]
    # essential met (5), important missed (0), pitfall avoided (2): 7/10
    assert rar_explicit_reward(weights, [True, False, False]) == pytest.approx(0.7)
    # pitfall hit: 5/10
    assert rar_explicit_reward(weights, [True, False, True]) == pytest.approx(0.5)


def test_rar_explicit_all_negative_rubric_rewards_avoiding_every_pitfall() -> None:
    assert rar_explicit_reward([-1, -2], [False, False]) == 1.0
    assert rar_explicit_reward([-1, -2], [True, False]) == pytest.approx(2 / 3)
    assert rar_explicit_reward([], []) == 0.0


def test_category_weight_map_is_the_papers() -> None:
    ws = category_weights([E, I, O, P])
    assert ws == [1.0, 0.7, 0.3, -0.9]
    # E met, I met, O missed, pitfall hit: (1 + 0.7) / 2.9
    assert rar_explicit_reward(ws, [True, True, False, True]) == pytest.approx(1.7 / 2.9)


def test_implicit_maps_rating_to_unit_interval() -> None:
    assert implicit_reward(1) == 0.0
    assert implicit_reward(10) == 1.0
    assert implicit_reward(7) == pytest.approx(6 / 9)
    with pytest.raises(ValueError, match="1-10"):
        implicit_reward(11)


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="2 weights but 1 verdicts"):
        rar_explicit_reward([1, 2], [True])


def test_non_finite_weights_are_refused() -> None:
    for bad in (math.inf, -math.inf, math.nan):
        with pytest.raises(ValueError, match="finite"):
            points_reward([1, bad], [True, True])
        with pytest.raises(ValueError, match="finite"):
            rar_explicit_reward([1, bad], [True, True])


# The paper's example rubric (RaR, Fig. 1): five positive criteria and one pitfall.
PAPER = [5, 5, 4, 3, 2, 3, -1]


def test_paper_weights_rar_explicit_by_hand() -> None:
    # sum |w| = 5+5+4+3+2+3+1 = 23
    everything_good = [True] * 6 + [False]
    assert rar_explicit_reward(PAPER, everything_good) == 1.0
    # met 5, 4, 2 and the pitfall hit: good = 5 + 4 + 2 = 11 -> 11/23
    mixed = [True, False, True, False, True, False, True]
    assert rar_explicit_reward(PAPER, mixed) == pytest.approx(11 / 23)
    # all met, pitfall hit: 22/23; nothing met, pitfall avoided: 1/23
    assert rar_explicit_reward(PAPER, [True] * 7) == pytest.approx(22 / 23)
    assert rar_explicit_reward(PAPER, [False] * 7) == pytest.approx(1 / 23)


def test_paper_weights_points_by_hand() -> None:
    # possible = 5+5+4+3+2+3 = 22
    assert points_reward(PAPER, [True] * 6 + [False]) == 1.0
    # met 5, 4, 2 and the pitfall hit: (5 + 4 + 2 - 1) / 22 = 10/22
    mixed = [True, False, True, False, True, False, True]
    assert points_reward(PAPER, mixed) == pytest.approx(10 / 22)
    assert points_reward(PAPER, [True] * 7) == pytest.approx(21 / 22)
    assert points_reward(PAPER, [False] * 7) == 0.0  # -1/22 clipped


@pytest.mark.parametrize("scale", [1e308, 1.7e308, 1e-300])
def test_huge_and_tiny_weights_score_like_ordinary_ones(scale: float) -> None:
    """1e308 * 7 overflows a plain sum to inf: inf/inf was NaN (rar_explicit) and
    a clipped 0 (points) for an all-met judgment. Scaling must not change a reward."""
    weights = [w / 5 * scale for w in PAPER]  # the largest is `scale`
    mixed = [True, False, True, False, True, False, True]
    for met in ([True] * 6 + [False], mixed, [True] * 7, [False] * 7):
        r = rar_explicit_reward(weights, met)
        p = points_reward(weights, met)
        assert math.isfinite(r) and math.isfinite(p)
        assert r == pytest.approx(rar_explicit_reward(PAPER, met))
        assert p == pytest.approx(points_reward(PAPER, met))


def test_the_1e308_all_met_judgment_scores_one() -> None:
    weights = [1e308] * 7
    assert rar_explicit_reward(weights, [True] * 7) == 1.0
    assert points_reward(weights, [True] * 7) == 1.0
    # 1e308 beside ordinary weights: the small ones vanish next to it, honestly
    assert rar_explicit_reward([1e308, 1.0, -1e308], [True, True, False]) == 1.0
    assert points_reward([1e308, 1e308, -1e308], [True, False, True]) == 0.0  # (1 - 1) / 2


def test_aggregate_picks_the_formula() -> None:
    weights, met = [5, 3, -2], [True, False, True]
    assert aggregate(Aggregation.rar_explicit, weights, met) == pytest.approx(5 / 10)
    assert aggregate(Aggregation.points, weights, met) == pytest.approx(3 / 8)
    # a 1-10 rating (implicit and Likert judges) maps to [0, 1] whatever the aggregation
    assert aggregate(Aggregation.implicit, rating=7) == pytest.approx(6 / 9)
    assert aggregate(Aggregation.points, rating=1) == 0.0
    # verdicts under `implicit` count as RaR Eq. 1, as the judge always did
    assert aggregate(Aggregation.implicit, weights, met) == pytest.approx(5 / 10)
    with pytest.raises(ValueError, match="1-10"):
        aggregate(Aggregation.implicit, rating=0)
