"""Reward formulas against hand-computed cases (SPEC.md section 2)."""

from __future__ import annotations

import pytest
from rubricforge.models.judging.rewards import (
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
