"""The agreement gate: no GRPO job on a snapshot whose judge the humans do not trust.

Before a job is queued, the judge it will be rewarded by is compared with the
annotators' spot-check labels on the snapshot's criteria: Cohen's kappa
between the judge's met/not-met verdicts and the humans' label, one pair per
labelled (response, criterion) item. The job is refused when kappa is below
`GatePolicy.min_kappa` (default 0.6) or there are fewer than
`GatePolicy.min_labels` items (default 30), unless a researcher overrides with
a reason, which is recorded with the job. The bar is the admins'
(models/training/thresholds.py); a submission may raise it, while lowering it is
an override too (models/training/jobs.py).

Which labels count: labels on a criterion of the snapshot's rubric versions,
or on an earlier version's criterion of the same rubric with the same
criterion key (spot-checks are often made before a rubric's last edit). The
human side of an item is its adjudicated label, else its annotators' majority;
a tie nobody adjudicated is left out (`models.agreement.report`).

Which verdicts count, in order, the first basis that gives any pair:
1. runs of the job's judge model with the job's template hash (explicit mode);
2. explicit runs of the same judge model under any template. Implicit and
   Likert judges give one rating per response, no per-criterion verdict, so
   their agreement on the criteria is measured from the same model judging
   explicitly: the judge model is what is trusted, the mode only aggregates.
A different judge model's agreement says nothing about this one and never
counts. Where a run judged an item more than once, the newest run's verdict
counts.

A warning, never a refusal: when the judge and the policy being trained are of one
model family (`models.llm.family`), the report says so, since rubric judges pass
their own family's failed answers more often (`models.agreement.self_preference`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
from rubricforge.models.agreement.queries import AgreementFilters, criterion_pairs
from rubricforge.models.agreement.report import ITEM, criterion_consensus
from rubricforge.models.agreement.stats import binary_agreement
from rubricforge.models.core.errors import InvalidInputError, RubricforgeError
from rubricforge.models.judging.orm import JudgeMode, JudgeRun
from rubricforge.models.judging.prompts import template_hash
from rubricforge.models.llm.family import model_family
from rubricforge.models.training.config import JudgeSpec
from sqlalchemy import select, text
from sqlalchemy.orm import Session

DEFAULT_MIN_KAPPA = 0.6
DEFAULT_MIN_LABELS = 30
EXACT = "judge model and template"
SAME_MODEL = "judge model, explicit runs"


@dataclass(frozen=True)
class GatePolicy:
    """The bar a snapshot's judge agreement must clear before a job is queued."""

    min_kappa: float = DEFAULT_MIN_KAPPA
    min_labels: int = DEFAULT_MIN_LABELS

    def __post_init__(self) -> None:
        if not -1.0 <= self.min_kappa <= 1.0:
            raise InvalidInputError(
                f"the minimum kappa must be between -1 and 1, got {self.min_kappa}; "
                f"{DEFAULT_MIN_KAPPA} is the default"
            )
        if self.min_labels < 1:
            raise InvalidInputError(
                f"the minimum number of labels must be at least 1, got {self.min_labels}"
            )


@dataclass(frozen=True)
class GateReport:
    """What the gate measured, as stored in the job's provenance."""

    snapshot_id: int
    judge_model: str
    judge_mode: str
    template_hash: str
    basis: str | None  # EXACT, SAME_MODEL, or None when no verdict pairs with a label
    run_ids: list[int]
    n_items: int  # labelled (response, criterion) items with a verdict: kappa's n
    n_labels: int  # annotator labels behind those items (adjudications excluded)
    n_unresolved: int  # items whose annotators tie and nobody adjudicated
    labels_on_snapshot: int  # answered labels on the snapshot's criteria, judged or not
    kappa: float | None
    kappa_low: float | None
    kappa_high: float | None
    accuracy: float | None
    min_kappa: float
    min_labels: int
    problems: list[str]  # why the gate refuses; empty when it passes
    warnings: list[str] = field(default_factory=list)  # shown, never refusing

    @property
    def passed(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


class AgreementGateError(RubricforgeError):
    """The snapshot's judge agreement is too low or rests on too few labels."""

    def __init__(self, report: GateReport):
        self.report = report
        why = "; ".join(report.problems)
        super().__init__(
            f"agreement gate: judge {report.judge_model} ({report.judge_mode}, template "
            f"{report.template_hash[:12]}) on snapshot {report.snapshot_id}: {why}. "
            "Nothing was queued. Label more spot-checks or improve the rubrics or the judge "
            "(see the agreement dashboard), or launch anyway with an override reason "
            "(--override-reason on `rubricforge train submit`, or the override field on the "
            "Training page); the reason is recorded with the job."
        )


# Labels on the snapshot's criteria: the same criterion, or one with the same key in
# another version of the same rubric.
_SNAPSHOT_LABELS = """
SELECT hl.criterion_id, count(*) AS n
FROM human_labels hl
JOIN criteria lc ON lc.id = hl.criterion_id
JOIN rubric_versions lv ON lv.id = lc.version_id
JOIN rubric_versions sv ON sv.rubric_id = lv.rubric_id
JOIN snapshot_items si ON si.rubric_version_id = sv.id AND si.snapshot_id = :snapshot_id
WHERE hl.met IS NOT NULL
  AND (lc.version_id = sv.id
       OR EXISTS (SELECT 1 FROM criteria sc WHERE sc.version_id = sv.id AND sc.key = lc.key))
GROUP BY hl.criterion_id
"""


def _runs(session: Session, model: str, *, template: str | None) -> list[int]:
    query = select(JudgeRun.id).where(JudgeRun.model == model)
    if template is not None:
        query = query.where(JudgeRun.template_hash == template)
    else:
        query = query.where(JudgeRun.mode == JudgeMode.explicit)
    return list(session.scalars(query.order_by(JudgeRun.id)))


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def family_warnings(judge_model: str, policy_model: str | None) -> list[str]:
    """A warning when the judge and the policy it rewards are of one model family."""
    family = model_family(judge_model)
    if policy_model is None or family is None or model_family(policy_model) != family:
        return []
    return [
        f"the judge {judge_model} and the policy {policy_model} are both of the {family} "
        "family: rubric judges pass their own family's failed answers more often, so the "
        "policy may learn what its judge likes rather than what the rubric asks (see the "
        "self-preference column on the Leaderboard; a judge of another family avoids it)"
    ]


def measure_agreement(
    session: Session,
    snapshot_id: int,
    judge: JudgeSpec,
    policy: GatePolicy | None = None,
    *,
    policy_model: str | None = None,
) -> GateReport:
    """Judge-vs-human agreement on the snapshot's spot-checks, judged against `policy`;
    with `policy_model`, a warning when judge and policy share a model family."""
    policy = policy or GatePolicy()
    template = template_hash(judge.mode, judge.per_criterion)
    labelled = session.execute(text(_SNAPSHOT_LABELS), {"snapshot_id": snapshot_id}).all()
    criterion_ids = tuple(row.criterion_id for row in labelled)
    on_snapshot = sum(row.n for row in labelled)
    pairs, basis = pd.DataFrame(), None
    run_ids: list[int] = []
    if criterion_ids:
        for name, runs in (
            (EXACT, _runs(session, judge.model, template=template)),
            (SAME_MODEL, _runs(session, judge.model, template=None)),
        ):
            if not runs:
                continue
            found = criterion_pairs(
                session, AgreementFilters(run_ids=tuple(runs), criterion_ids=criterion_ids)
            )
            if not found.empty:
                pairs, basis = found, name
                break
    if pairs.empty:
        human, unresolved, judged = pd.Series(dtype=bool), 0, pd.Series(dtype=bool)
        n_labels = 0
    else:
        labels = pairs.drop_duplicates([*ITEM, "annotator_id"])
        human, unresolved = criterion_consensus(labels)
        # The newest run's verdict per item: a re-run of the same judge replaces the old one.
        newest = pairs.sort_values("run_id").drop_duplicates(ITEM, keep="last").set_index(ITEM)
        newest = newest.reindex(human.index)
        judged = newest.judge_met
        run_ids = sorted({int(r) for r in newest.run_id})
        n_labels = int((~labels.is_adjudication.astype(bool)).sum())
    stats = binary_agreement(judged.astype(bool).tolist(), human.astype(bool).tolist())
    kappa = _finite(stats.kappa.value)
    problems = []
    if stats.n < policy.min_labels:
        problems.append(
            f"only {stats.n} labelled item(s) with a verdict of {judge.model} (at least "
            f"{policy.min_labels} needed; the snapshot's criteria have {on_snapshot} answered "
            "label(s) in all: judge the spot-checked responses with this model, or label more)"
        )
    if kappa is None and stats.n:
        problems.append(f"Cohen's kappa is undefined ({stats.kappa.reason})")
    elif kappa is not None and kappa < policy.min_kappa:
        problems.append(
            f"Cohen's kappa {kappa:.2f} (95% CI {stats.kappa.low:.2f} to {stats.kappa.high:.2f}) "
            f"is below the required {policy.min_kappa:g}"
        )
    return GateReport(
        snapshot_id=snapshot_id,
        judge_model=judge.model,
        judge_mode=judge.mode.value,
        template_hash=template,
        basis=basis,
        run_ids=run_ids,
        n_items=stats.n,
        n_labels=n_labels,
        n_unresolved=unresolved,
        labels_on_snapshot=on_snapshot,
        kappa=kappa,
        kappa_low=_finite(stats.kappa.low) if kappa is not None else None,
        kappa_high=_finite(stats.kappa.high) if kappa is not None else None,
        accuracy=_finite(stats.accuracy.value),
        min_kappa=policy.min_kappa,
        min_labels=policy.min_labels,
        problems=problems,
        warnings=family_warnings(judge.model, policy_model),
    )
