"""Agreement statistics: the pure functions against scikit-learn, krippendorff, scipy
and hand-computed tables; then the dashboard report, drill-down and judge
leaderboard on real Postgres against the same libraries on fixed labels."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import krippendorff
import numpy as np
import pytest
from judged_world import ESS, IMP, OPT, PIT, World, make_world
from rubricforge.models.agreement.figures import agreement_report
from rubricforge.models.agreement.leaderboard import RankBy, leaderboard
from rubricforge.models.agreement.queries import AgreementFilters, disagreements
from rubricforge.models.agreement.spotcheck import create_queue, queue_spec
from rubricforge.models.agreement.stats import (
    _alpha_from_profiles,
    _resample_counts,
    _weighted_spearman,
    binary_agreement,
    krippendorff_alpha,
    labels_needed,
    spearman,
)
from rubricforge.models.core.errors import InvalidInputError
from rubricforge.models.judging.orm import JudgeMode
from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score, confusion_matrix, precision_score, recall_score
from sqlalchemy import Engine
from sqlalchemy.orm import Session

T, F = True, False

# --- pure statistics --------------------------------------------------------------


def test_a_hand_computed_table() -> None:
    # humans (rows) x judge (cols): [[3, 1], [2, 4]] over 10 items.
    human = [F] * 4 + [T] * 6
    judge = [F, F, F, T] + [F, F, T, T, T, T]
    a = binary_agreement(judge, human)
    assert a.confusion == ((3, 1), (2, 4))
    assert a.accuracy.value == pytest.approx(0.7)
    # p_e = (4 * 5 + 6 * 5) / 100 = 0.5, so kappa = (0.7 - 0.5) / 0.5
    assert a.kappa.value == pytest.approx(0.4)
    assert a.precision.value == pytest.approx(4 / 5)
    assert a.recall.value == pytest.approx(4 / 6)
    for e in (a.accuracy, a.kappa, a.precision, a.recall):
        assert e.low <= e.value <= e.high and e.n == 10


def test_binary_agreement_matches_scikit_learn() -> None:
    rng = np.random.default_rng(11)
    human = rng.random(300) < 0.4
    judge = np.where(rng.random(300) < 0.75, human, ~human)
    a = binary_agreement(judge.tolist(), human.tolist())
    assert a.kappa.value == pytest.approx(cohen_kappa_score(human, judge))
    assert a.precision.value == pytest.approx(precision_score(human, judge))
    assert a.recall.value == pytest.approx(recall_score(human, judge))
    assert a.accuracy.value == pytest.approx((human == judge).mean())
    assert np.array_equal(np.array(a.confusion), confusion_matrix(human, judge))


def test_the_count_bootstrap_is_the_item_bootstrap() -> None:
    """Drawing cell counts from a multinomial gives the same intervals as
    resampling items and asking scikit-learn each time."""
    rng = np.random.default_rng(5)
    human = rng.random(200) < 0.5
    judge = np.where(rng.random(200) < 0.8, human, ~human)
    ours = binary_agreement(judge.tolist(), human.tolist(), n_boot=4000, seed=1)
    boot = np.random.default_rng(2)
    kappas, accs = [], []
    for _ in range(4000):
        idx = boot.integers(0, 200, 200)
        kappas.append(cohen_kappa_score(human[idx], judge[idx]))
        accs.append((human[idx] == judge[idx]).mean())
    for estimate, samples in ((ours.kappa, kappas), (ours.accuracy, accs)):
        low, high = np.percentile(samples, [2.5, 97.5])
        assert estimate.low == pytest.approx(low, abs=0.02)
        assert estimate.high == pytest.approx(high, abs=0.02)
    again = binary_agreement(judge.tolist(), human.tolist(), n_boot=4000, seed=1)
    assert again == ours  # a fixed seed gives the same intervals


def test_alpha_hand_computed_and_against_krippendorff() -> None:
    # Two raters, three items: agree on met, agree on not met, split. Coincidences:
    # o_TT = 2, o_FF = 2, o_FT = o_TF = 1; n_T = n_F = 3, n = 6;
    # alpha = 1 - (n - 1) * o_FT / (n_F * n_T) = 1 - 5 / 9.
    hand = krippendorff_alpha([1, 1, 2, 2, 3, 3], ["x", "y"] * 3, [T, T, F, F, T, F])
    assert hand.value == pytest.approx(4 / 9) and hand.n == 3

    rng = np.random.default_rng(8)
    truth = rng.random(120) < 0.5
    data = np.where(rng.random((5, 120)) < 0.8, truth, ~truth).astype(float)
    data[rng.random((5, 120)) < 0.3] = np.nan  # not every rater rates every item
    ratings = [
        (i, r, bool(data[r, i])) for r in range(5) for i in range(120) if not np.isnan(data[r, i])
    ]
    ours = krippendorff_alpha(*zip(*ratings, strict=True))
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert ours.value == pytest.approx(expected)
    assert ours.low < ours.value < ours.high


def test_the_alpha_bootstrap_formula_is_krippendorff_on_resampled_items() -> None:
    profiles = np.array([[2, 0], [1, 1], [0, 3], [2, 1], [1, 2]], dtype=float)
    weights = np.array([[1, 2, 1, 0, 3], [2, 1, 1, 1, 1], [0, 1, 2, 3, 1]], dtype=float)
    formula = _alpha_from_profiles(profiles, weights)
    for row, value in zip(weights, formula, strict=True):
        counts = np.repeat(profiles, row.astype(int), axis=0)
        expected = krippendorff.alpha(value_counts=counts, level_of_measurement="nominal")
        assert value == pytest.approx(expected)


def test_spearman_matches_scipy_and_its_bootstrap_handles_ties() -> None:
    rng = np.random.default_rng(4)
    human = rng.integers(1, 11, 80).astype(float)  # 1-10 scores: many ties
    judge = np.clip(human + rng.normal(0, 2, 80), 1, 10).round()
    rho = spearman(judge.tolist(), human.tolist())
    assert rho.value == pytest.approx(spearmanr(judge, human).statistic)
    assert rho.low < rho.value < rho.high
    weights = _resample_counts(np.random.default_rng(0), 80, 5)
    for row, value in zip(weights, _weighted_spearman(judge, human, weights), strict=True):
        idx = np.repeat(np.arange(80), row.astype(int))
        assert value == pytest.approx(spearmanr(judge[idx], human[idx]).statistic)


def test_degenerate_cases_are_nan_with_a_reason() -> None:
    empty = binary_agreement([], [])
    assert math.isnan(empty.accuracy.value) and empty.accuracy.reason == "no labelled items"
    same = binary_agreement([T, T, T], [T, T, T])
    assert same.accuracy.value == 1.0 and not same.kappa.defined
    assert "one and the same class" in (same.kappa.reason or "")
    never = binary_agreement([F, F, F], [T, F, T])
    assert never.kappa.value == 0.0 and not never.precision.defined
    assert never.precision.reason == "the judge never said 'met'"
    assert binary_agreement([T, F], [F, F]).recall.reason == "the humans never said 'met'"
    assert krippendorff_alpha([], [], []).reason == "no item was rated by two raters or more"
    assert "same class" in (krippendorff_alpha([1, 1], ["a", "b"], [T, T]).reason or "")
    with pytest.raises(InvalidInputError, match="same length"):
        krippendorff_alpha([1, 2], ["a"], [T, F])
    assert "at least 3" in (spearman([0.1, 0.2], [3, 4]).reason or "")
    assert "every human score is the same" in (spearman([0.1, 0.2, 0.3], [5, 5, 5]).reason or "")
    with pytest.raises(InvalidInputError):
        binary_agreement([T], [T, F])


def test_labels_needed_for_a_narrower_interval() -> None:
    # width ~ 1/sqrt(n): halving 0.2 to 0.1 needs 4x the labels, i.e. 300 more than 100.
    assert labels_needed(100, 0.2, 0.1) == 300
    assert labels_needed(100, 0.2, 0.3) == 0
    assert labels_needed(50, 0.3, 0.2) == math.ceil(50 * 1.5**2) - 50
    assert labels_needed(0, float("nan"), 0.1) is None
    with pytest.raises(InvalidInputError, match="positive"):
        labels_needed(100, 0.2, 0)
    a = binary_agreement([T, F] * 30, [T, T, F, F] * 15)
    assert a.accuracy.labels_needed(a.accuracy.width / 2) == 3 * 60


# --- the dashboard on Postgres ------------------------------------------------------


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as s:
        yield s


@dataclass
class Expect:
    """What the fixture stored, in plain Python, to compute expected figures from."""

    world: World
    runs: dict[str, int]
    items: dict[tuple[int, int], dict[str, object]] = field(default_factory=dict)
    labels: dict[tuple[int, int], dict[str, bool]] = field(default_factory=dict)
    final: dict[tuple[int, int], bool] = field(default_factory=dict)
    verdicts: dict[str, dict[tuple[int, int], bool]] = field(default_factory=dict)
    scores: dict[int, dict[str, int]] = field(default_factory=dict)
    rewards: dict[str, dict[int, float]] = field(default_factory=dict)

    def human(self, item: tuple[int, int]) -> bool | None:
        if item in self.final:
            return self.final[item]
        votes = list(self.labels[item].values())
        met = sum(votes)
        return True if 2 * met > len(votes) else False if 2 * met < len(votes) else None


def labelled(session: Session) -> Expect:
    rng = np.random.default_rng(3)
    w = make_world(session)
    runs = {
        "a": w.run("judge-a", JudgeMode.explicit, tokens_in=900, tokens_out=100, cost_usd=0.5),
        "b": w.run("judge-b", JudgeMode.explicit, tokens_in=2700, tokens_out=300, cost_usd=3.0),
        "imp": w.run("judge-a", JudgeMode.implicit, tokens_in=500, tokens_out=20, cost_usd=0.2),
        "lik": w.run("judge-c", JudgeMode.likert, tokens_in=300, tokens_out=10),
    }
    e = Expect(w, runs, verdicts={"a": {}, "b": {}}, rewards={"imp": {}, "lik": {}})
    ann, bob, erin = w.users["ann"], w.users["bob"], w.users["erin"]
    for k in range(10):
        p = w.prompt("med" if k < 6 else "sci", [ESS, IMP, OPT, PIT], author=erin)
        for j in range(2):
            r = w.response(p.prompt_id, f"response {k}.{j}: " + "words " * 200)
            quality = int(rng.integers(1, 11))
            truth = {c: bool(rng.random() < 0.5) for c in p.criteria}
            va = {c: t if rng.random() < 0.85 else not t for c, t in truth.items()}
            vb = {c: t if rng.random() < 0.6 else not t for c, t in truth.items()}
            failed = p.criteria[0] if (k, j) == (0, 0) else None
            w.judge(runs["a"], r, version_id=p.version_id, verdicts=va, reward=rng.random())
            w.judge(
                runs["b"],
                r,
                version_id=p.version_id,
                verdicts={c: None if c == failed else v for c, v in vb.items()},
                reward=rng.random(),
            )
            implicit = (np.clip(quality + rng.integers(-1, 2), 1, 10) - 1) / 9
            likert = float(rng.random())
            w.judge(runs["imp"], r, rating=implicit * 9 + 1, reward=implicit)
            w.judge(runs["lik"], r, rating=likert * 9 + 1, reward=likert)
            e.rewards["imp"][r], e.rewards["lik"][r] = implicit, likert
            e.scores[r] = {"ann": int(np.clip(quality + rng.integers(-1, 2), 1, 10))}
            w.label(ann, r, None, score=e.scores[r]["ann"])
            if j == 0:
                e.scores[r]["bob"] = int(np.clip(quality + rng.integers(-2, 3), 1, 10))
                w.label(bob, r, None, score=e.scores[r]["bob"])
            for c, cat in zip(p.criteria, [ESS, IMP, OPT, PIT], strict=True):
                item = (r, c)
                e.items[item] = {
                    "category": cat.value,
                    "dataset": "med" if k < 6 else "sci",
                    "prompt": p.prompt_id,
                }
                e.verdicts["a"][item] = va[c]
                if c != failed:
                    e.verdicts["b"][item] = vb[c]
                e.labels[item] = {"ann": truth[c] if rng.random() < 0.9 else not truth[c]}
                w.label(ann, r, c, e.labels[item]["ann"])
                if j == 0:
                    e.labels[item]["bob"] = truth[c] if rng.random() < 0.8 else not truth[c]
                    w.label(bob, r, c, e.labels[item]["bob"])
    ties = [i for i, lab in e.labels.items() if len(set(lab.values())) == 2]
    for item in ties[:2]:  # the expert decides two of the ties
        e.final[item] = True
        w.label(erin, item[0], item[1], True, adjudication=True)
    w.label(w.users["cat"], *next(iter(e.labels)), None)  # a skip counts nowhere
    assert len(ties) > 2
    return e


def test_the_report_matches_the_libraries_on_fixed_labels(session: Session) -> None:
    e = labelled(session)
    report = agreement_report(session, n_boot=200)
    pairs = [
        (v, e.human(item), run, item)
        for run in ("a", "b")
        for item, v in e.verdicts[run].items()
        if e.human(item) is not None
    ]
    judge = [p[0] for p in pairs]
    human = [p[1] for p in pairs]
    assert report.n_labels == sum(len(v) for v in e.labels.values())
    assert report.n_adjudicated == 2
    assert report.n_unresolved == sum(1 for i in e.labels if e.human(i) is None)
    assert report.n_items == len(e.labels) - report.n_unresolved
    assert report.overall.n == len(pairs)
    assert report.overall.kappa.value == pytest.approx(cohen_kappa_score(human, judge))
    assert report.overall.precision.value == pytest.approx(precision_score(human, judge))
    assert report.overall.recall.value == pytest.approx(recall_score(human, judge))
    assert np.array_equal(report.overall.confusion, confusion_matrix(human, judge))

    judges = {g.group: g.stats for g in report.by_judge.groups}
    assert set(judges) == {"judge-a (explicit)", "judge-b (explicit)"}
    for run, name in (("a", "judge-a (explicit)"), ("b", "judge-b (explicit)")):
        mine = [(p[0], p[1]) for p in pairs if p[2] == run]
        j, h = zip(*mine, strict=True)
        assert judges[name].kappa.value == pytest.approx(cohen_kappa_score(h, j))
    assert judges["judge-a (explicit)"].kappa.value > judges["judge-b (explicit)"].kappa.value

    cats = {g.group: g.stats for g in report.by_category.groups}
    assert set(cats) == {"Essential", "Important", "Optional", "Pitfall"}
    for cat, stats in cats.items():
        mine = [(p[0], p[1]) for p in pairs if e.items[p[3]]["category"] == cat]
        assert stats.accuracy.value == pytest.approx(np.mean([a == b for a, b in mine]))
    assert {g.group for g in report.by_dataset.groups} == {"med", "sci"}

    annotators = {g.group: g.stats for g in report.by_annotator.groups}
    assert set(annotators) == {"ann", "bob"}  # the adjudicator and the skip are not raters
    for who in ("ann", "bob"):
        mine = [
            (v, e.labels[item][who])
            for run in ("a", "b")
            for item, v in e.verdicts[run].items()
            if who in e.labels[item]
        ]
        j, h = zip(*mine, strict=True)
        assert annotators[who].kappa.value == pytest.approx(cohen_kappa_score(h, j))

    # Alpha over annotators and both judges: rows are raters, columns items.
    items = sorted(e.labels)
    rows = [[e.labels[i].get(who, np.nan) for i in items] for who in ("ann", "bob")]
    rows += [[e.verdicts[run].get(i, np.nan) for i in items] for run in ("a", "b")]
    data = np.array(rows, dtype=float)
    expected_alpha = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert report.alpha.value == pytest.approx(expected_alpha)
    expected_humans = krippendorff.alpha(reliability_data=data[:2], level_of_measurement="nominal")
    assert report.alpha_humans.value == pytest.approx(expected_humans)

    # Whole responses: mean human score vs each judge's reward.
    responses = {r.judge: r for r in report.responses}
    assert set(responses) == {
        "judge-a (explicit)",
        "judge-b (explicit)",
        "judge-a (implicit)",
        "judge-c (likert)",
    }
    ids = sorted(e.scores)
    human_score = [np.mean(list(e.scores[r].values())) for r in ids]
    for run, name in (("imp", "judge-a (implicit)"), ("lik", "judge-c (likert)")):
        rewards = [e.rewards[run][r] for r in ids]
        assert responses[name].spearman.value == pytest.approx(
            spearmanr(rewards, human_score).statistic
        )
        good = [(s - 1) / 9 >= 0.5 for s in human_score]
        called = [x >= 0.5 for x in rewards]
        assert responses[name].thresholded.kappa.value == pytest.approx(
            cohen_kappa_score(good, called)
        )
    assert report.n_scored_responses == len(ids)


def test_breakdowns_by_criterion_and_prompt_need_enough_labels(session: Session) -> None:
    labelled(session)
    report = agreement_report(session, n_boot=50, min_labels=4)
    # 20 responses x 4 criteria, each criterion judged by two runs on two responses.
    assert report.by_criterion.groups and report.by_criterion.left_out > 0
    for g in report.by_criterion.groups:
        assert g.stats.n >= 4 and g.criterion_id is not None and g.prompt_id is not None
    accuracies = [g.stats.accuracy.value for g in report.by_criterion.groups]
    assert accuracies == sorted(accuracies)  # worst first, for the expert
    everything = agreement_report(session, n_boot=50, min_labels=1)
    assert everything.by_criterion.left_out == 0
    assert len(everything.by_prompt.groups) == 10


def test_filters_narrow_the_report(session: Session) -> None:
    e = labelled(session)
    only_a = agreement_report(session, n_boot=50, filters=AgreementFilters(run_ids=(e.runs["a"],)))
    assert [g.group for g in only_a.by_judge.groups] == ["judge-a (explicit)"]
    pitfalls = agreement_report(session, n_boot=50, filters=AgreementFilters(categories=(PIT,)))
    assert [g.group for g in pitfalls.by_category.groups] == ["Pitfall"]
    ann = e.world.users["ann"].id
    assert ann is not None
    just_ann = agreement_report(session, n_boot=50, filters=AgreementFilters(annotator_ids=(ann,)))
    assert [g.group for g in just_ann.by_annotator.groups] == ["ann"]
    rita = e.world.users["rita"]
    q = create_queue(session, rita, queue_spec(name="few", size=5, seed=1))
    queued = agreement_report(session, n_boot=50, filters=AgreementFilters(queue_id=q.id))
    assert queued.n_labels <= 10 and queued.n_items <= 5


def test_an_empty_dashboard_explains_itself(session: Session) -> None:
    make_world(session)
    report = agreement_report(session, n_boot=50)
    assert report.n_labels == 0 and report.overall.accuracy.reason == "no labelled items"
    assert report.alpha.reason and report.by_category.groups == () and report.responses == ()
    board = leaderboard(session, n_boot=50)
    assert board.rows == () and board.cheapest_agreeing is None


def test_drill_down_shows_the_disagreeing_items_and_keeps_annotators_blind(
    session: Session,
) -> None:
    e = labelled(session)
    rita = e.world.users["rita"]
    wrong = {
        (item, run)
        for run in ("a", "b")
        for item, v in e.verdicts[run].items()
        if e.human(item) is not None and v != e.human(item)
    }
    page = disagreements(session, rita, limit=500)
    assert page.total == len({item for item, _ in wrong})
    assert {(d.response_id, d.criterion_id) for d in page.items} == {i for i, _ in wrong}
    d = page.items[0]
    assert d.question and d.response and d.criterion is not None and d.labels
    assert any(v.rationale for v in d.verdicts)
    small = disagreements(session, rita, limit=3, offset=3)
    assert small.total == page.total and small.items == page.items[3:6]
    past = disagreements(session, rita, limit=10, offset=page.total + 5)
    assert past.items == [] and past.total == page.total

    # cat labelled a single item (a skip): as an annotator she sees only that item, if any.
    cat = e.world.users["cat"]
    assert disagreements(session, cat, limit=500).total <= 1
    ann = e.world.users["ann"]
    assert disagreements(session, ann, limit=500).total == page.total  # ann labelled them all
    bob = e.world.users["bob"]
    bob_page = disagreements(session, bob, limit=500)
    assert bob_page.total < page.total
    assert all(any(lab.annotator == "bob" for lab in i.labels) for i in bob_page.items)


def test_leaderboard_ranks_judges_on_the_same_labels_with_their_cost(session: Session) -> None:
    e = labelled(session)
    extra = e.world.run("judge-a", JudgeMode.implicit, tokens_in=100, tokens_out=5, cost_usd=0.1)
    assert extra  # a second run of the same judge: its tokens and cost add up
    board = leaderboard(session, n_boot=200)
    names = [r.judge for r in board.rows]
    assert len(names) == 4 and [r.rank for r in board.rows] == [1, 2, 3, 4]
    figures = [r.response_kappa.value for r in board.rows if r.response_kappa.defined]
    assert figures == sorted(figures, reverse=True)
    implicit = next(r for r in board.rows if r.judge == "judge-a (implicit)")
    assert implicit.cost.runs == 2 and implicit.cost.tokens_in == 600
    assert implicit.cost.cost_usd == pytest.approx(0.3)
    assert implicit.cost.judgments == 20 and implicit.cost_per_1k == pytest.approx(15.0)
    likert = next(r for r in board.rows if r.judge == "judge-c (likert)")
    assert likert.cost.cost_usd is None and likert.cost_per_1k is None
    assert not likert.criterion_kappa.defined and "explicit" in (
        likert.criterion_kappa.reason or ""
    )
    # The implicit judge tracks the humans' scores closely (it was built to): it leads.
    assert names[0] == "judge-a (implicit)"
    assert board.cheapest_agreeing is not None and board.cheapest_agreeing.agrees_with_best

    by_criterion = leaderboard(session, rank_by=RankBy.criterion_kappa, n_boot=200)
    assert [r.judge for r in by_criterion.rows[:2]] == ["judge-a (explicit)", "judge-b (explicit)"]
    a_row = by_criterion.rows[0]
    common = [i for i in e.verdicts["b"] if e.human(i) is not None]  # judge-b failed one item
    h = [e.human(i) for i in common]
    assert by_criterion.n_items == len(common)
    assert a_row.criterion_kappa.value == pytest.approx(
        cohen_kappa_score(h, [e.verdicts["a"][i] for i in common])
    )
