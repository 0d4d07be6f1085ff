"""Judge-human agreement statistics as pure functions: plain data in, plain data out.

Point estimates of judge-vs-human agreement (accuracy, Cohen's kappa, precision,
recall) are the textbook formulas on the four cells of the 2x2 table, which the
tests check against scikit-learn on raw labels (calling scikit-learn itself costs
a few milliseconds of input validation per call, and a dashboard makes dozens);
alpha comes from `krippendorff` and Spearman's rho from scipy.
Bootstrap 95% intervals resample items with a fixed seed. For statistics that
depend only on how many items fall into each of a few types (the four cells of
a 2x2 table; an item's (not met, met) label counts for alpha), resampling n
items with replacement is the same as drawing the type counts from
Multinomial(n, observed shares), so the bootstrap draws those counts directly:
the same distribution as an item bootstrap, in microseconds instead of seconds.
The tests check the count formulas against the libraries at the observed data.

Intervals treat items as independent (criteria of one response are not
quite). An undefined statistic (no labels, one class only) is NaN with a
reason, never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import krippendorff
import numpy as np
import pandas as pd
from numpy.typing import NDArray
from rubricforge.models.core.errors import InvalidInputError
from scipy.stats import spearmanr

N_BOOT = 1000
SEED = 0
LEVEL = 0.95
NAN = float("nan")
Floats = NDArray[np.float64]


@dataclass(frozen=True)
class Estimate:
    """A statistic with its bootstrap interval; value NaN (and `reason`) when undefined."""

    value: float
    low: float
    high: float
    n: int
    reason: str | None = None

    @property
    def defined(self) -> bool:
        return not math.isnan(self.value)

    @property
    def width(self) -> float:
        return self.high - self.low

    def labels_needed(self, target_width: float) -> int | None:
        return labels_needed(self.n, self.width, target_width)


def undefined(n: int, reason: str) -> Estimate:
    return Estimate(NAN, NAN, NAN, n, reason)


@dataclass(frozen=True)
class BinaryAgreement:
    """Judge vs human on "met". The human label is the truth: precision is the
    share of the judge's "met" that humans also call met, recall the share of
    the humans' "met" the judge finds. `confusion` rows are the human label,
    columns the judge's, both in the order (not met, met)."""

    n: int
    accuracy: Estimate
    kappa: Estimate
    precision: Estimate
    recall: Estimate
    confusion: tuple[tuple[int, int], tuple[int, int]]


def _interval(samples: Floats, level: float) -> tuple[float, float]:
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return NAN, NAN
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def _estimate(value: float, samples: Floats, n: int, reason: str | None, level: float) -> Estimate:
    if math.isnan(value):
        return undefined(n, reason or "undefined")
    low, high = _interval(samples, level)
    return Estimate(float(value), low, high, n)


def _cells_stats(cells: Floats) -> dict[str, Floats]:
    """accuracy, kappa, precision, recall from counts [..., (tn, fp, fn, tp)]."""
    tn, fp, fn, tp = (cells[..., i] for i in range(4))
    n = tn + fp + fn + tp
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = (tn + tp) / n
        expected = ((tn + fp) * (tn + fn) + (fn + tp) * (fp + tp)) / (n * n)
        kappa = np.where(expected < 1, (observed - expected) / (1 - expected), np.nan)
        precision = tp / (tp + fp)
        recall = tp / (tp + fn)
    return {"accuracy": observed, "kappa": kappa, "precision": precision, "recall": recall}


def _multinomial_bootstrap(counts: NDArray[np.int64], n_boot: int, seed: int) -> Floats:
    """Resampled type counts: the item bootstrap for statistics of type counts."""
    n = int(counts.sum())
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, counts / n, size=n_boot).astype(np.float64)


def binary_agreement(
    judge: Sequence[bool],
    human: Sequence[bool],
    *,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    level: float = LEVEL,
) -> BinaryAgreement:
    """Agreement of paired judge and human "met" labels (one pair per item)."""
    if len(judge) != len(human):
        raise InvalidInputError(f"{len(judge)} judge labels but {len(human)} human labels")
    n = len(judge)
    if n == 0:
        none = undefined(0, "no labelled items")
        return BinaryAgreement(0, none, none, none, none, ((0, 0), (0, 0)))
    j = np.asarray(judge, dtype=bool)
    h = np.asarray(human, dtype=bool)
    cells = np.bincount(2 * h + j, minlength=4).astype(np.int64)  # tn, fp, fn, tp
    boot = _cells_stats(_multinomial_bootstrap(cells, n_boot, seed))
    point = _cells_stats(cells.astype(np.float64))
    tn, fp, fn, tp = (int(c) for c in cells)
    kappa_why = (
        "judge and humans used one and the same class for every item"
        if math.isnan(point["kappa"])
        else None
    )
    precision = float(point["precision"]) if tp + fp else NAN
    recall = float(point["recall"]) if tp + fn else NAN
    return BinaryAgreement(
        n=n,
        accuracy=_estimate(float(point["accuracy"]), boot["accuracy"], n, None, level),
        kappa=_estimate(float(point["kappa"]), boot["kappa"], n, kappa_why, level),
        precision=_estimate(precision, boot["precision"], n, "the judge never said 'met'", level),
        recall=_estimate(recall, boot["recall"], n, "the humans never said 'met'", level),
        confusion=((tn, fp), (fn, tp)),
    )


def _alpha_from_profiles(profiles: Floats, weights: Floats) -> Floats:
    """Nominal alpha for binary values from item types (not met, met counts) and
    per-sample type weights [B, K]: the coincidence-matrix formula."""
    a, b = profiles[:, 0], profiles[:, 1]
    m = a + b
    o_ff = weights @ (a * (a - 1) / (m - 1))
    o_tt = weights @ (b * (b - 1) / (m - 1))
    o_ft = weights @ (a * b / (m - 1))
    n_f, n_t = o_ff + o_ft, o_tt + o_ft
    total = n_f + n_t
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n_f * n_t > 0, 1 - (total - 1) * o_ft / (n_f * n_t), np.nan)


def krippendorff_alpha(
    items: Sequence[Hashable] | NDArray[Any],
    raters: Sequence[Hashable] | NDArray[Any],
    met: Sequence[bool] | NDArray[np.bool_],
    *,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    level: float = LEVEL,
) -> Estimate:
    """Nominal Krippendorff's alpha over ratings given as three parallel sequences
    (item, rater, met); raters may be annotators and judges together. `n` counts
    items rated at least twice."""
    if not len(items) == len(raters) == len(met):
        raise InvalidInputError("items, raters and ratings must have the same length")
    item_codes, item_names = pd.factorize(pd.Series(items, dtype=object))
    rater_codes, rater_names = pd.factorize(pd.Series(raters, dtype=object))
    data = np.full((len(rater_names), len(item_names)), np.nan)
    data[rater_codes, item_codes] = np.asarray(met, dtype=float)
    counts = np.stack([(data == 0).sum(axis=0), (data == 1).sum(axis=0)], axis=1)
    pairable = counts[counts.sum(axis=1) >= 2]
    n = len(pairable)
    if n == 0:
        return undefined(0, "no item was rated by two raters or more")
    if pairable[:, 1].sum() == 0 or pairable[:, 0].sum() == 0:
        return undefined(n, "every rating is the same class: alpha is undefined")
    value = float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))
    profiles, type_counts = np.unique(pairable, axis=0, return_counts=True)
    weights = _multinomial_bootstrap(type_counts.astype(np.int64), n_boot, seed)
    return _estimate(value, _alpha_from_profiles(profiles.astype(float), weights), n, None, level)


def _resample_counts(rng: np.random.Generator, n: int, size: int) -> Floats:
    """How often each of n items is drawn in `size` bootstrap resamples: [size, n]."""
    idx = rng.integers(0, n, size=(size, n)) + np.arange(size)[:, None] * n
    return np.bincount(idx.ravel(), minlength=size * n).reshape(size, n).astype(np.float64)


def _weighted_ranks(values: Floats, weights: Floats) -> Floats:
    """Average (tie-aware) rank of every item within each weighted resample.

    An item drawn w times occupies w consecutive ranks; ties share the mean
    rank of their block. Sorting once and summing weights per tie block gives
    every resample's ranks without sorting each resample."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    new_block = np.r_[True, ordered[1:] != ordered[:-1]]
    block_of = np.empty(len(values), dtype=np.int64)
    block_of[order] = np.cumsum(new_block) - 1
    block_weight = weights[:, order]
    if not new_block.all():  # without ties every item is its own block
        block_weight = np.add.reduceat(block_weight, np.flatnonzero(new_block), axis=1)
    # The mean rank of a block: ranks before it, plus (its weight + 1) / 2. In place,
    # since these arrays are resamples x items (a few million cells for a dashboard).
    block_rank = np.cumsum(block_weight, axis=1)
    block_rank -= block_weight / 2
    block_rank += 0.5
    return block_rank[:, block_of]


def _weighted_spearman(x: Floats, y: Floats, weights: Floats) -> Floats:
    rx, ry = _weighted_ranks(x, weights), _weighted_ranks(y, weights)
    total = weights.sum(axis=1)
    # Weighted sums as einsum row dot products: no resamples x items temporaries.
    rx -= (np.einsum("ij,ij->i", weights, rx) / total)[:, None]
    ry -= (np.einsum("ij,ij->i", weights, ry) / total)[:, None]
    weighted_rx = weights * rx
    cov = np.einsum("ij,ij->i", weighted_rx, ry)
    var_x = np.einsum("ij,ij->i", weighted_rx, rx)
    var_y = np.einsum("ij,ij,ij->i", weights, ry, ry)
    with np.errstate(divide="ignore", invalid="ignore"):
        return cov / np.sqrt(var_x * var_y)


def spearman(
    judge_scores: Sequence[float],
    human_scores: Sequence[float],
    *,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    level: float = LEVEL,
) -> Estimate:
    """Spearman's rho of paired response-level scores (judge reward vs human score)."""
    if len(judge_scores) != len(human_scores):
        raise InvalidInputError(
            f"{len(judge_scores)} judge scores but {len(human_scores)} human scores"
        )
    x = np.asarray(judge_scores, dtype=float)
    y = np.asarray(human_scores, dtype=float)
    n = len(x)
    if n < 3:
        return undefined(n, f"needs at least 3 scored responses, has {n}")
    for values, who in ((x, "judge"), (y, "human")):
        if np.all(values == values[0]):
            return undefined(n, f"every {who} score is the same: no ranking to correlate")
    value = float(spearmanr(x, y).statistic)
    rng = np.random.default_rng(seed)
    # Chunks keep memory bounded at 20k responses x 1000 resamples.
    chunk = max(1, 2_000_000 // n)
    samples = [
        _weighted_spearman(x, y, _resample_counts(rng, n, min(chunk, n_boot - start)))
        for start in range(0, n_boot, chunk)
    ]
    return _estimate(value, np.concatenate(samples), n, None, level)


def labels_needed(current_n: int, current_width: float, target_width: float) -> int | None:
    """How many more labels would bring an interval of `current_width` (from
    `current_n` labels) under `target_width`, with the width shrinking as
    1/sqrt(n). None when there is no interval to extrapolate from yet."""
    if not target_width > 0:
        raise InvalidInputError(f"target width must be a positive number, got {target_width!r}")
    if current_n <= 0 or not math.isfinite(current_width):
        return None
    if current_width <= target_width:
        return 0
    return max(0, math.ceil(current_n * (current_width / target_width) ** 2) - current_n)
