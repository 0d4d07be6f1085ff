"""Two eval runs compared prompt by prompt: base vs trained, preset vs preset.

Runs are paired on the prompts both scored (by uid); for each judge (with the
rubric, and rubric-free) the difference candidate - baseline is taken per prompt,
and its mean gets a 95% paired t interval (scipy.stats.ttest_rel). A prompt whose
judgment failed in either run is left out of that judge's pairs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rubricforge.models.core.errors import InvalidInputError
from rubricforge.models.training.evaluation_runs import EvalRunInfo, EvalScoreInfo, get_eval_run
from scipy import stats
from sqlalchemy.orm import Session

CONFIDENCE = 0.95


@dataclass(frozen=True)
class PairedDiff:
    """candidate - baseline over the prompts both runs scored with one judge."""

    judge: str  # "rubric" or "rubric-free"
    n: int
    baseline_mean: float | None
    candidate_mean: float | None
    mean_diff: float | None
    low: float | None  # the 95% interval of the mean difference; None under 2 pairs
    high: float | None


@dataclass(frozen=True)
class PromptDiff:
    uid: str
    baseline_rubric: float | None
    candidate_rubric: float | None
    baseline_likert: float | None
    candidate_likert: float | None

    @staticmethod
    def _diff(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else b - a

    @property
    def rubric_diff(self) -> float | None:
        return self._diff(self.baseline_rubric, self.candidate_rubric)

    @property
    def likert_diff(self) -> float | None:
        return self._diff(self.baseline_likert, self.candidate_likert)


@dataclass(frozen=True)
class Comparison:
    baseline: EvalRunInfo
    candidate: EvalRunInfo
    rubric: PairedDiff
    likert: PairedDiff
    prompts: tuple[PromptDiff, ...]  # in the baseline's order
    same_snapshot: bool


def paired_diff(judge: str, pairs: Sequence[tuple[float, float]]) -> PairedDiff:
    """Mean difference (second - first) with a paired t interval."""
    n = len(pairs)
    if not n:
        return PairedDiff(judge, 0, None, None, None, None, None)
    a = [p[0] for p in pairs]
    b = [p[1] for p in pairs]
    diffs = [y - x for x, y in pairs]
    mean = sum(diffs) / n
    low = high = None
    if n >= 2:
        if max(diffs) - min(diffs) <= 1e-12:  # no spread: t is undefined, the mean is exact
            low = high = mean
        else:
            ci = stats.ttest_rel(b, a).confidence_interval(CONFIDENCE)
            low, high = float(ci.low), float(ci.high)
            if not (math.isfinite(low) and math.isfinite(high)):
                low = high = None
    return PairedDiff(judge, n, sum(a) / n, sum(b) / n, mean, low, high)


def _by_uid(scores: Sequence[EvalScoreInfo]) -> dict[str, EvalScoreInfo]:
    return {s.uid: s for s in scores}


def compare_runs(session: Session, baseline_id: int, candidate_id: int) -> Comparison:
    """Pair the two runs' prompts; InvalidInputError when they share none."""
    if baseline_id == candidate_id:
        raise InvalidInputError("pick two different eval runs to compare")
    baseline, base_scores = get_eval_run(session, baseline_id)
    candidate, cand_scores = get_eval_run(session, candidate_id)
    theirs = _by_uid(cand_scores)
    prompts = tuple(
        PromptDiff(
            uid=s.uid,
            baseline_rubric=s.rubric_reward,
            candidate_rubric=theirs[s.uid].rubric_reward,
            baseline_likert=s.likert_reward,
            candidate_likert=theirs[s.uid].likert_reward,
        )
        for s in base_scores
        if s.uid in theirs
    )
    if not prompts:
        raise InvalidInputError(
            f"eval runs {baseline_id} and {candidate_id} share no prompt: evaluate both on "
            "the same held-out snapshot to compare them"
        )
    rubric = [
        (p.baseline_rubric, p.candidate_rubric)
        for p in prompts
        if p.baseline_rubric is not None and p.candidate_rubric is not None
    ]
    likert = [
        (p.baseline_likert, p.candidate_likert)
        for p in prompts
        if p.baseline_likert is not None and p.candidate_likert is not None
    ]
    return Comparison(
        baseline=baseline,
        candidate=candidate,
        rubric=paired_diff("rubric", rubric),  # type: ignore[arg-type]
        likert=paired_diff("rubric-free", likert),  # type: ignore[arg-type]
        prompts=prompts,
        same_snapshot=baseline.snapshot_sha256 == candidate.snapshot_sha256,
    )
