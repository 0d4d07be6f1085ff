"""The divergence rule of the rubric-free drift monitor, on hand-computed series.

Slopes of evenly spaced straight lines are exact: a series rising by 0.02 per
monitored step every 5 steps has slope 0.004 per step, and over 5 intervals (25
steps) a fitted change of 0.10."""

from __future__ import annotations

import pytest
from rubricforge.models.training.divergence import (
    FREE_KEY,
    RUBRIC_KEY,
    MonitorSpec,
    divergence,
    monitor_points,
)


def series(
    rubric: list[float], free: list[float], every: int = 5
) -> list[tuple[int, float, float]]:
    return [(every * (i + 1), r, f) for i, (r, f) in enumerate(zip(rubric, free, strict=True))]


def test_rubric_rising_while_rubric_free_is_flat_diverges() -> None:
    check = divergence(series([0.30, 0.32, 0.34, 0.36, 0.38, 0.40], [0.5] * 6))
    assert check.diverging
    assert check.points == 6
    assert check.rubric_change == pytest.approx(0.10)
    assert check.free_change == pytest.approx(0.0)
    assert check.message.startswith(
        "Diverging: over steps 5-30 the rubric reward changed by +0.100"
    )


def test_rubric_free_falling_diverges_too() -> None:
    check = divergence(series([0.3, 0.35, 0.4, 0.45], [0.6, 0.58, 0.56, 0.54]))
    # rubric: +0.05 per point x 3 intervals = +0.15; free: -0.02 x 3 = -0.06.
    assert (check.rubric_change, check.free_change) == pytest.approx((0.15, -0.06))
    assert check.diverging


def test_both_rising_is_healthy() -> None:
    check = divergence(
        series([0.3, 0.32, 0.34, 0.36, 0.38, 0.40], [0.4, 0.41, 0.42, 0.43, 0.44, 0.45])
    )
    assert check.free_change == pytest.approx(0.05)
    assert not check.diverging
    assert check.message.startswith("No divergence")


def test_thresholds_are_inclusive_and_adjustable() -> None:
    # Rubric change exactly 0.05 (0.01 x 5 intervals), free exactly +0.01: diverging.
    points = series([0.30, 0.31, 0.32, 0.33, 0.34, 0.35], [0.5, 0.502, 0.504, 0.506, 0.508, 0.51])
    assert divergence(points).diverging
    assert not divergence(points, min_rise=0.06).diverging
    assert not divergence(points, max_free_gain=0.009).diverging


def test_a_rubric_reward_rising_too_little_is_not_flagged() -> None:
    assert not divergence(series([0.30, 0.31, 0.32, 0.33], [0.5] * 4)).diverging  # +0.03


def test_only_the_last_window_counts() -> None:
    # Early on both rose; in the last 4 points the rubric rises and the free score falls.
    rubric = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    free = [0.1, 0.3, 0.5, 0.5, 0.45, 0.4]
    whole = divergence(series(rubric, free), window=6)
    assert whole.free_change == pytest.approx(4.875 / 437.5 * 25)  # +0.279: healthy
    assert not whole.diverging
    check = divergence(series(rubric, free), window=4)
    assert check.diverging and check.points == 4
    assert check.free_change == pytest.approx(-0.105)  # slope -0.875/125 = -0.007 x 15 steps


def test_too_few_points_says_so() -> None:
    check = divergence(series([0.1, 0.5, 0.9], [0.5, 0.5, 0.5]))
    assert not check.diverging
    assert check.rubric_change is None
    assert check.message == "Not enough monitored steps yet: 3 of the 4 the trend needs."
    assert not divergence([]).diverging


def test_points_unsorted_are_sorted_by_step() -> None:
    points = series([0.30, 0.35, 0.40, 0.45], [0.5] * 4)
    assert divergence(list(reversed(points))).rubric_change == pytest.approx(0.15)


def test_monitor_points_keep_steps_with_both_scores() -> None:
    metrics = [
        (1, {"reward": 0.2}),
        (2, {RUBRIC_KEY: 0.25, FREE_KEY: 0.5, "reward": 0.2}),
        (3, {RUBRIC_KEY: 0.3}),
        (4, {RUBRIC_KEY: 0.35, FREE_KEY: 0.45}),
    ]
    assert monitor_points(metrics) == [(2, 0.25, 0.5), (4, 0.35, 0.45)]


def test_monitor_schedule() -> None:
    assert not MonitorSpec().enabled
    every3 = MonitorSpec(every_steps=3)
    assert [every3.period(s) for s in range(1, 11)] == [0, 0, 1, 1, 1, 2, 2, 2, 3, 3]
    assert {MonitorSpec(every_steps=0).period(s) for s in range(1, 10)} == {0}
