"""The agreement dashboard's figures from paired rows: pure (DataFrames in, dataclasses out).

Rows come from `models.agreement.queries`. Per-prompt rubrics mean a criterion
rarely has many labels, so figures are pooled by category, judge, dataset and
annotator; a criterion or a prompt gets its own figures once it has
`min_labels` pairs, and the rest are counted as left out. Pooled figures count
one pair per (item, judge run): filter to one run to read a single judge.

Whole responses: the judge's reward (explicit, implicit or Likert, all on
[0, 1]) against the human score mapped the same way ((score - 1) / 9):
Spearman's rho, and kappa after calling both "good" at `threshold`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from rubricforge.models.agreement.stats import (
    LEVEL,
    N_BOOT,
    SEED,
    BinaryAgreement,
    Estimate,
    binary_agreement,
    krippendorff_alpha,
    spearman,
)
from rubricforge.models.judging.orm import JudgeMode

THRESHOLD = 0.5  # reward (and mapped human score) at or above which a response is "good"
ITEM = ["response_id", "criterion_id"]


@dataclass(frozen=True)
class GroupAgreement:
    group: str  # the category, judge, dataset, annotator, criterion or prompt
    stats: BinaryAgreement
    criterion_id: int | None = None  # by criterion: the newest id, for "flag for revision"
    prompt_id: int | None = None


@dataclass(frozen=True)
class Breakdown:
    by: str
    groups: tuple[GroupAgreement, ...]
    left_out: int = 0  # groups with fewer than min_labels pairs (criterion, prompt)


@dataclass(frozen=True)
class ResponseAgreement:
    judge: str
    judge_model: str
    judge_mode: JudgeMode
    spearman: Estimate  # judge reward vs human score
    thresholded: BinaryAgreement  # "good" (>= threshold) by judge vs by humans


@dataclass(frozen=True)
class Headline:
    """The figures every visit shows (the annotator's drill-down needs no more)."""

    n_labels: int  # answered annotator labels on criteria
    n_items: int  # (response, criterion) items with a human label and a verdict
    n_unresolved: int  # items whose annotators tie and nobody adjudicated
    n_adjudicated: int
    overall: BinaryAgreement  # every verdict vs its item's human label
    alpha: Estimate  # annotators and judges together, nominal
    alpha_humans: Estimate  # annotators only


@dataclass(frozen=True)
class Breakdowns:
    by_judge: Breakdown
    by_category: Breakdown
    by_dataset: Breakdown
    by_annotator: Breakdown  # each annotator's own labels vs the verdicts
    by_criterion: Breakdown  # worst first
    by_prompt: Breakdown  # worst first
    min_labels: int


@dataclass(frozen=True)
class ResponseFigures:
    responses: tuple[ResponseAgreement, ...]
    n_scored_responses: int
    threshold: float


@dataclass(frozen=True)
class AgreementReport(Headline, Breakdowns, ResponseFigures):
    """Every figure at once (the CLI, the benches); the dashboard asks for the parts
    its open tab shows, each computed and memoized on its own."""

    @classmethod
    def of(cls, head: Headline, parts: Breakdowns, scored: ResponseFigures) -> AgreementReport:
        fields = {**vars(head), **vars(parts), **vars(scored)}
        return cls(**fields)


def judge_name(model: str, mode: JudgeMode | str) -> str:
    return f"{model} ({JudgeMode(mode).value})"


def criterion_consensus(labels: pd.DataFrame) -> tuple[pd.Series, int]:
    """Per item, the adjudicated label or the majority; ties dropped and counted."""
    if labels.empty:
        index = pd.MultiIndex.from_arrays([[], []], names=ITEM)
        return pd.Series(index=index, dtype=bool), 0
    adjudicated = labels[labels.is_adjudication].groupby(ITEM).human_met.first().astype(float)
    votes = labels[~labels.is_adjudication].groupby(ITEM).human_met.agg(["sum", "count"])
    majority = pd.Series(
        np.select(
            [2 * votes["sum"] > votes["count"], 2 * votes["sum"] < votes["count"]],
            [1.0, 0.0],
            np.nan,
        ),
        index=votes.index,
    )
    final = adjudicated.combine_first(majority)
    return final.dropna().astype(bool), int(final.isna().sum())


def score_consensus(labels: pd.DataFrame) -> pd.Series:
    """Per response, the adjudicated score or the annotators' mean score."""
    adjudicated = labels[labels.is_adjudication].groupby("response_id").human_score.first()
    mean = labels[~labels.is_adjudication].groupby("response_id").human_score.mean()
    return adjudicated.astype(float).combine_first(mean.astype(float))


def _breakdown(
    frame: pd.DataFrame,
    by: str,
    stats: partial[BinaryAgreement],
    *,
    min_labels: int = 0,
    worst_first: bool = False,
) -> Breakdown:
    groups = []
    # Thousands of per-prompt criteria have a label or two: count first, slice only the rest.
    sizes = frame.groupby(by, sort=False).size()
    enough = sizes[sizes >= min_labels].index
    left_out = len(sizes) - len(enough)
    for name, g in frame[frame[by].isin(enough)].groupby(by, sort=True):
        label = str(name)
        if by == "criterion_text":
            label = f"{g.criterion_title.iloc[0]} [{g.criterion_key.iloc[0]}]"
        groups.append(
            GroupAgreement(
                group=label,
                stats=stats(g.judge_met.tolist(), g.human_met.tolist()),
                criterion_id=int(g.criterion_id.max()) if by == "criterion_text" else None,
                prompt_id=int(g.prompt_id.iloc[0])
                if by in ("criterion_text", "prompt_id")
                else None,
            )
        )
    if worst_first:
        groups.sort(key=lambda ga: (np.nan_to_num(ga.stats.accuracy.value, nan=2.0), ga.group))
    return Breakdown(by=by, groups=tuple(groups), left_out=left_out)


def _item_codes(*frames: pd.DataFrame) -> list[NDArray[np.int64]]:
    """One integer per (response, criterion) item, shared across the frames."""
    both = pd.concat([f[ITEM] for f in frames], ignore_index=True)
    codes = both.groupby(ITEM, sort=False).ngroup().to_numpy()
    bounds = np.cumsum([0, *(len(f) for f in frames)])
    return [codes[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _responses(
    pairs: pd.DataFrame,
    threshold: float,
    stats: partial[BinaryAgreement],
    rho: partial[Estimate],
) -> tuple[tuple[ResponseAgreement, ...], int]:
    if pairs.empty:
        return (), 0
    human = score_consensus(pairs.drop_duplicates(["response_id", "annotator_id"]))
    judged = (
        pairs.groupby(["judge_model", "judge_mode", "response_id"], as_index=False)
        .judge_reward.mean()
        .join(human.rename("human_score"), on="response_id")
    )
    out = []
    for (model, mode), g in judged.groupby(["judge_model", "judge_mode"], sort=True):
        human_reward = (g.human_score - 1) / 9
        out.append(
            ResponseAgreement(
                judge=judge_name(model, mode),
                judge_model=model,
                judge_mode=JudgeMode(mode),
                spearman=rho(g.judge_reward.tolist(), g.human_score.tolist()),
                thresholded=stats(
                    (g.judge_reward >= threshold).tolist(), (human_reward >= threshold).tolist()
                ),
            )
        )
    return tuple(out), len(human)


@dataclass(frozen=True)
class Prepared:
    """The criterion pairs split the ways both the headline and the breakdowns need."""

    labels: pd.DataFrame
    verdicts: pd.DataFrame
    humans: pd.DataFrame  # labels less adjudications
    judged: pd.DataFrame  # one row per (item, judge run) with the item's human consensus
    unresolved: int
    n_items: int
    by_annotator: pd.DataFrame


def prepare(criterion_pairs: pd.DataFrame) -> Prepared:
    pairs = criterion_pairs
    if pairs.empty:
        pairs = pd.DataFrame(columns=[*criterion_pairs.columns, "judge"])
    else:
        runs = pairs.drop_duplicates("run_id")
        names = {
            r: judge_name(m, d)
            for r, m, d in zip(runs.run_id, runs.judge_model, runs.judge_mode, strict=True)
        }
        pairs = pairs.assign(judge=pairs.run_id.map(names))
    labels = pairs.drop_duplicates(ITEM + ["annotator_id"])
    verdicts = pairs.drop_duplicates(ITEM + ["run_id"])
    human, unresolved = criterion_consensus(labels)
    judged = verdicts.drop(columns=["human_met"]).join(
        human.rename("human_met"), on=ITEM, how="inner"
    )
    return Prepared(
        labels=labels,
        verdicts=verdicts,
        humans=labels[~labels.is_adjudication.astype(bool)],
        judged=judged,
        unresolved=unresolved,
        n_items=len(human),
        by_annotator=pairs[~pairs.is_adjudication.astype(bool)].drop_duplicates(
            ITEM + ["annotator_id", "run_id"]
        ),
    )


def _prepared(pairs: pd.DataFrame | Prepared) -> Prepared:
    return pairs if isinstance(pairs, Prepared) else prepare(pairs)


def build_headline(
    criterion_pairs: pd.DataFrame | Prepared,
    *,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    level: float = LEVEL,
) -> Headline:
    """From the criterion pairs, or what prepare() made of them."""
    stats = partial(binary_agreement, n_boot=n_boot, seed=seed, level=level)
    alpha = partial(krippendorff_alpha, n_boot=n_boot, seed=seed, level=level)
    p = _prepared(criterion_pairs)
    humans, verdicts = p.humans, p.verdicts
    human_items, judge_items = _item_codes(humans, verdicts)
    human_raters = ("human:" + humans.annotator.astype(str)).to_numpy()
    judge_raters = ("judge:" + verdicts.run_id.astype(str)).to_numpy()
    return Headline(
        n_labels=len(humans),
        n_items=p.n_items,
        n_unresolved=p.unresolved,
        n_adjudicated=len(p.labels) - len(humans),
        overall=stats(p.judged.judge_met.tolist(), p.judged.human_met.tolist()),
        alpha=alpha(
            np.concatenate([human_items, judge_items]),
            np.concatenate([human_raters, judge_raters]),
            np.concatenate([humans.human_met.to_numpy(bool), verdicts.judge_met.to_numpy(bool)]),
        ),
        alpha_humans=alpha(human_items, human_raters, humans.human_met.to_numpy(bool)),
    )


def build_breakdowns(
    criterion_pairs: pd.DataFrame | Prepared,
    *,
    min_labels: int,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    level: float = LEVEL,
) -> Breakdowns:
    """From the criterion pairs, or what prepare() made of them."""
    stats = partial(binary_agreement, n_boot=n_boot, seed=seed, level=level)
    p = _prepared(criterion_pairs)

    def breakdown(frame: pd.DataFrame, by: str, **opts: Any) -> Breakdown:
        return _breakdown(frame, by, stats, **opts)

    return Breakdowns(
        by_judge=breakdown(p.judged, "judge"),
        by_category=breakdown(p.judged, "category"),
        by_dataset=breakdown(p.judged, "dataset"),
        by_annotator=breakdown(p.by_annotator, "annotator"),
        by_criterion=breakdown(p.judged, "criterion_text", min_labels=min_labels, worst_first=True),
        by_prompt=breakdown(p.judged, "prompt_id", min_labels=min_labels, worst_first=True),
        min_labels=min_labels,
    )


def build_responses(
    response_pairs: pd.DataFrame,
    *,
    threshold: float = THRESHOLD,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    level: float = LEVEL,
) -> ResponseFigures:
    stats = partial(binary_agreement, n_boot=n_boot, seed=seed, level=level)
    rho = partial(spearman, n_boot=n_boot, seed=seed, level=level)
    responses, n_scored = _responses(response_pairs, threshold, stats, rho)
    return ResponseFigures(responses=responses, n_scored_responses=n_scored, threshold=threshold)


def build_report(
    criterion_pairs: pd.DataFrame,
    response_pairs: pd.DataFrame,
    *,
    min_labels: int,
    threshold: float = THRESHOLD,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    level: float = LEVEL,
) -> AgreementReport:
    """All figures from the paired rows of `models.agreement.queries`."""
    opts: dict[str, Any] = dict(n_boot=n_boot, seed=seed, level=level)
    prepared = prepare(criterion_pairs)
    return AgreementReport.of(
        build_headline(prepared, **opts),
        build_breakdowns(prepared, min_labels=min_labels, **opts),
        build_responses(response_pairs, threshold=threshold, **opts),
    )
