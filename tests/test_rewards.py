"""Reward formulas against hand-computed cases (RaR Eq. 1, HealthBench points)."""

from __future__ import annotations

import math

import pytest
from rubricforge.models.judging.rewards import (
    PRESETS,
    Aggregation,
    RewardPreset,
    aggregate,
    category_weights,
    implicit_reward,
    legacy_preset,
    pass_counts,
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


# --- presets ---------------------------------------------------------------------
# The paper's example rubric with its categories, and one fixed judgment of it:
# met 1 (E, 5), 3 (I, 4), 4 (I, 3) and the pitfall (P, -1) was hit.
PAPER_CATEGORIES = [E, E, I, I, O, I, P]
PAPER_MET = [True, False, True, True, False, False, True]


def preset_reward(preset: RewardPreset, weights: list[float], cats: list[Category],
                  met: list[bool]) -> float:  # fmt: skip
    rule = PRESETS[preset]
    return aggregate(
        rule.aggregation, weights, met, categories=cats, category_map=rule.category_map
    )


def test_every_explicit_preset_on_the_papers_rubric_by_hand() -> None:
    # rar_explicit_weights: sum |w| = 5+5+4+3+2+3+1 = 23; good = 5 + 4 + 3 = 12
    # (the pitfall was hit, so it adds nothing) -> 12/23.
    assert preset_reward(
        RewardPreset.rar_explicit_weights, PAPER, PAPER_CATEGORIES, PAPER_MET
    ) == pytest.approx(12 / 23)
    # rar_explicit_categories: weights 1, 1, .7, .7, .3, .7, -.9 (the pitfall keeps its
    # negative sign); sum |w| = 5.3; good = 1 + .7 + .7 = 2.4 -> 2.4/5.3.
    assert preset_reward(
        RewardPreset.rar_explicit_categories, PAPER, PAPER_CATEGORIES, PAPER_MET
    ) == pytest.approx(2.4 / 5.3)
    # points: possible = 5+5+4+3+2+3 = 22; achieved = 5 + 4 + 3 - 1 = 11 -> 11/22.
    assert preset_reward(RewardPreset.points, PAPER, PAPER_CATEGORIES, PAPER_MET) == 0.5
    # The paper's map makes a pitfall weigh 0.9 of an Essential item, not 1/5 of it:
    # hitting it costs 0.9/5.3 = 0.17 of the reward here against 1/23 = 0.04 by weights.
    avoided = PAPER_MET[:-1] + [False]
    cost_categories = preset_reward(
        RewardPreset.rar_explicit_categories, PAPER, PAPER_CATEGORIES, avoided
    ) - preset_reward(RewardPreset.rar_explicit_categories, PAPER, PAPER_CATEGORIES, PAPER_MET)
    assert cost_categories == pytest.approx(0.9 / 5.3)
    assert rar_explicit_reward(PAPER, avoided) - rar_explicit_reward(
        PAPER, PAPER_MET
    ) == pytest.approx(1 / 23)


def test_the_rating_presets_map_the_rating() -> None:
    for preset in (
        RewardPreset.implicit,
        RewardPreset.direct_likert,
        RewardPreset.reference_likert,
    ):
        rule = PRESETS[preset]
        assert rule.aggregation is Aggregation.implicit and not rule.verdicts
        assert aggregate(rule.aggregation, rating=7) == pytest.approx(6 / 9)


# "Avoids recommending aspirin" is good when met (positive weight); "Recommends aspirin"
# is bad when met (negative weight). The same two responses, judged literally:
AVOIDANCE = ([5.0, 2.0], [E, P])  # weights, categories
FAILURE = ([5.0, -2.0], [E, P])
NO_ASPIRIN = {"avoidance": [True, True], "failure": [True, False]}  # essential met
ASPIRIN = {"avoidance": [True, False], "failure": [True, True]}


@pytest.mark.parametrize(
    "preset, good, bad",
    [
        # weights: good (5 + 2) / 7 = 1; bad: 5 / 7 either way
        (RewardPreset.rar_explicit_weights, (1.0, 1.0), (5 / 7, 5 / 7)),
        # categories: |w| = 1 and 0.9 whichever the phrasing; bad: 1 / 1.9
        (RewardPreset.rar_explicit_categories, (1.0, 1.0), (1 / 1.9, 1 / 1.9)),
        # points: avoidance: possible 7, bad 5/7; failure: possible 5, bad (5 - 2)/5
        (RewardPreset.points, (1.0, 1.0), (5 / 7, 3 / 5)),
    ],
)
def test_avoidance_and_failure_pitfalls_both_score_the_right_way(
    preset: RewardPreset, good: tuple[float, float], bad: tuple[float, float]
) -> None:
    for rubric, name, g, b in ((AVOIDANCE, "avoidance", good[0], bad[0]),
                               (FAILURE, "failure", good[1], bad[1])):  # fmt: skip
        weights, cats = rubric
        assert preset_reward(preset, weights, cats, NO_ASPIRIN[name]) == pytest.approx(g)
        assert preset_reward(preset, weights, cats, ASPIRIN[name]) == pytest.approx(b)
    # The blind rule (every pitfall counts against, whatever its sign) trains the
    # avoidance rubric backwards: the response without aspirin would score 1/1.9.
    blind = category_weights([E, P])
    assert rar_explicit_reward(blind, NO_ASPIRIN["avoidance"]) == pytest.approx(1 / 1.9)


def test_pass_counts_follow_the_polarity() -> None:
    counts = pass_counts(PAPER_CATEGORIES, PAPER, PAPER_MET)
    assert counts == {E: (1, 2), I: (2, 3), O: (0, 1), P: (0, 1)}
    # an avoided pitfall passes whichever way it is phrased; a failed verdict counts nowhere
    assert pass_counts([P, P, E], [2.0, -2.0, 5.0], [True, False, None]) == {P: (2, 2)}


@pytest.mark.parametrize(
    "mode, aggregation, preset",
    [
        ("explicit", "rar_explicit", RewardPreset.rar_explicit_weights),
        ("explicit", None, RewardPreset.rar_explicit_weights),
        ("explicit", "points", RewardPreset.points),
        ("implicit", "rar_explicit", RewardPreset.implicit),  # how old configs were stored
        (None, None, RewardPreset.implicit),  # the old default mode
        ("likert", "implicit", RewardPreset.direct_likert),
        ("reference_likert", None, RewardPreset.reference_likert),
    ],
)
def test_older_mode_and_aggregation_name_a_preset(
    mode: str | None, aggregation: str | None, preset: RewardPreset
) -> None:
    assert legacy_preset(mode, aggregation) is preset


def test_contradictory_older_combinations_are_refused() -> None:
    with pytest.raises(ValueError, match="aggregation implicit is a 1-10 rating"):
        legacy_preset("explicit", "implicit")
    with pytest.raises(ValueError, match="aggregation points needs one verdict per criterion"):
        legacy_preset("implicit", "points")
    with pytest.raises(ValueError, match="mode 'holistic' is not one of explicit"):
        legacy_preset("holistic", None)
