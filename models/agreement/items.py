"""What the app shows about labelled items: the texts, the human labels and the
judge's verdicts, fetched for many items at once.

An item is a (response, criterion) pair, or a whole response (criterion None).
Whoever calls these decides what a user may see: the blind labeling flow
(`models.agreement.spotcheck`) never calls the verdict readers before the label exists.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rubricforge.models.accounts.orm import User
from rubricforge.models.agreement.orm import HumanLabel
from rubricforge.models.judging.orm import JudgeMode, JudgeRun, Judgment, Response, Verdict
from rubricforge.models.rubrics.orm import Category, Criterion, Prompt
from sqlalchemy import ColumnElement, and_, false, or_, select, tuple_
from sqlalchemy.orm import Session

ItemKey = tuple[int, int | None]


@dataclass(frozen=True)
class CriterionView:
    id: int
    key: str
    title: str
    description: str
    category: Category
    weight: float


@dataclass(frozen=True)
class LabelView:
    annotator_id: int
    annotator: str
    met: bool | None  # criterion items; None = skipped
    score: int | None  # whole-response items, 1-10; None = skipped
    note: str
    seconds_spent: float | None
    is_adjudication: bool
    created_at: datetime


@dataclass(frozen=True)
class VerdictView:
    run_id: int
    judge_model: str
    judge_mode: JudgeMode
    met: bool | None  # None with ok=False: the judge's reply was unusable
    ok: bool
    rationale: str


@dataclass(frozen=True)
class JudgmentView:
    run_id: int
    judge_model: str
    judge_mode: JudgeMode
    rating: float | None
    reward: float | None
    ok: bool


@dataclass(frozen=True)
class ItemDetail:
    """Everything about one item, judge included: for adjudication and drill-down."""

    response_id: int
    criterion_id: int | None
    prompt_id: int
    question: str
    response: str
    criterion: CriterionView | None
    labels: tuple[LabelView, ...]
    verdicts: tuple[VerdictView, ...]
    judgments: tuple[JudgmentView, ...]
    reference_answer: str = ""  # the expert's reference answer to the prompt


def _item_filter(response_col: Any, criterion_col: Any, keys: Sequence[ItemKey]) -> Any:
    pairs = [k for k in keys if k[1] is not None]
    whole = [r for r, c in keys if c is None]
    clauses: list[ColumnElement[bool]] = []
    if pairs:
        clauses.append(tuple_(response_col, criterion_col).in_(pairs))
    if whole:
        clauses.append(and_(response_col.in_(whole), criterion_col.is_(None)))
    return or_(*clauses) if clauses else false()


def criterion_views(session: Session, ids: Iterable[int]) -> dict[int, CriterionView]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(
            Criterion.id,
            Criterion.key,
            Criterion.title,
            Criterion.description,
            Criterion.category,
            Criterion.weight,
        ).where(Criterion.id.in_(wanted))
    )
    return {r.id: CriterionView(*r) for r in rows}


def labels_for(session: Session, keys: Sequence[ItemKey]) -> dict[ItemKey, list[LabelView]]:
    rows = session.execute(
        select(HumanLabel, User.username)
        .join(User, User.id == HumanLabel.annotator_id)
        .where(_item_filter(HumanLabel.response_id, HumanLabel.criterion_id, keys))
        .order_by(HumanLabel.is_adjudication, HumanLabel.created_at, HumanLabel.id)
    )
    out: dict[ItemKey, list[LabelView]] = defaultdict(list)
    for label, username in rows:
        out[(label.response_id, label.criterion_id)].append(label_view(label, username))
    return out


def label_view(label: HumanLabel, username: str) -> LabelView:
    return LabelView(
        annotator_id=label.annotator_id,
        annotator=username,
        met=label.met,
        score=label.score,
        note=label.note,
        seconds_spent=label.seconds_spent,
        is_adjudication=label.is_adjudication,
        created_at=label.created_at,
    )


def verdicts_for(session: Session, keys: Sequence[ItemKey]) -> dict[ItemKey, list[VerdictView]]:
    """The judges' verdicts on (response, criterion) items, every run."""
    pairs = [k for k in keys if k[1] is not None]
    if not pairs:
        return {}
    rows = session.execute(
        select(
            Judgment.response_id,
            Verdict.criterion_id,
            JudgeRun.id,
            JudgeRun.model,
            JudgeRun.mode,
            Verdict.met,
            Verdict.ok,
            Verdict.rationale,
        )
        .join(Judgment, Judgment.id == Verdict.judgment_id)
        .join(JudgeRun, JudgeRun.id == Judgment.run_id)
        .where(tuple_(Judgment.response_id, Verdict.criterion_id).in_(pairs))
        .order_by(JudgeRun.id)
    )
    out: dict[ItemKey, list[VerdictView]] = defaultdict(list)
    for response_id, criterion_id, run_id, model, mode, met, ok, rationale in rows:
        out[(response_id, criterion_id)].append(
            VerdictView(
                run_id=run_id,
                judge_model=model,
                judge_mode=mode,
                met=met,
                ok=ok,
                rationale=rationale,
            )
        )
    return out


def judgments_for(session: Session, response_ids: Iterable[int]) -> dict[int, list[JudgmentView]]:
    """Every run's rating and reward for whole responses."""
    wanted = sorted(set(response_ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(
            Judgment.response_id,
            JudgeRun.id,
            JudgeRun.model,
            JudgeRun.mode,
            Judgment.rating,
            Judgment.reward,
            Judgment.ok,
        )
        .join(JudgeRun, JudgeRun.id == Judgment.run_id)
        .where(Judgment.response_id.in_(wanted))
        .order_by(JudgeRun.id)
    )
    out: dict[int, list[JudgmentView]] = defaultdict(list)
    for response_id, run_id, model, mode, rating, reward, ok in rows:
        out[response_id].append(
            JudgmentView(
                run_id=run_id,
                judge_model=model,
                judge_mode=mode,
                rating=rating,
                reward=reward,
                ok=ok,
            )
        )
    return out


def item_details(session: Session, keys: Sequence[ItemKey]) -> list[ItemDetail]:
    """Full details of the items, in the order given (five queries in all)."""
    if not keys:
        return []
    texts = {
        r.id: r
        for r in session.execute(
            select(
                Response.id,
                Response.text,
                Prompt.id.label("prompt_id"),
                Prompt.question,
                Prompt.reference_answer,
            )  # fmt: skip
            .join(Prompt, Prompt.id == Response.prompt_id)
            .where(Response.id.in_({r for r, _ in keys}))
        )
    }
    criteria = criterion_views(session, (c for _, c in keys if c is not None))
    labels = labels_for(session, keys)
    verdicts = verdicts_for(session, keys)
    judgments = judgments_for(session, (r for r, c in keys if c is None))
    details = []
    for response_id, criterion_id in keys:
        text = texts[response_id]
        details.append(
            ItemDetail(
                response_id=response_id,
                criterion_id=criterion_id,
                prompt_id=text.prompt_id,
                question=text.question,
                response=text.text,
                criterion=criteria[criterion_id] if criterion_id is not None else None,
                labels=tuple(labels.get((response_id, criterion_id), ())),
                verdicts=tuple(verdicts.get((response_id, criterion_id), ())),
                judgments=tuple(judgments.get(response_id, ())) if criterion_id is None else (),
                reference_answer=text.reference_answer,
            )
        )
    return details
