"""Spot-check queues and blind labeling.

Someone with `manage_spotchecks` draws a queue (`create_queue`, strategies in
`models.agreement.sampling`). Annotators then ask for their `next_item`: the first item
in queue order they have not labelled whose answered labels are still fewer
than the queue's `labels_per_item`, so several annotators meet on the same
items (inter-annotator agreement) before the queue moves on. Two annotators
asking at the same instant may both get an item that needed one more label;
the extra label is harmless (more overlap), so no claim table is kept.

Blindness: a `LabelItem` has the prompt, the response and the criterion, and
no field that could carry a verdict, a rationale, a rating or another
annotator's label. The judge's side comes only from `reveal`, which refuses
until this annotator's label is stored; `submit_label` stores the label, then
calls `reveal`. A second `submit_label` on the same item is refused (it would
be given with the verdict in view); an annotator corrects a label on purpose
with `models.agreement.corrections` (change or undo, audited).

Who labels: annotators and admins (`Action.label`). Experts are kept out of
the blind queue on purpose: they wrote the rubrics, and they are the
adjudicators (`models.agreement.adjudication`), who see everything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from rubricforge.models.accounts.orm import User
from rubricforge.models.accounts.permissions import Action, UserInfo, require
from rubricforge.models.agreement.assignments import ORDER_SQL
from rubricforge.models.agreement.items import (
    CriterionView,
    JudgmentView,
    LabelView,
    VerdictView,
    criterion_views,
    judgments_for,
    label_view,
    verdicts_for,
)
from rubricforge.models.agreement.orm import (
    HumanLabel,
    SpotCheckQueue,
)
from rubricforge.models.agreement.queues import ANSWERED, SAME_ITEM, QueueInfo, list_queues
from rubricforge.models.agreement.sampling import QueueSpec, draw
from rubricforge.models.core.audit import audit
from rubricforge.models.core.errors import InvalidInputError, NotFoundError, WorkflowError
from rubricforge.models.judging.orm import Response
from rubricforge.models.rubrics.orm import Criterion, Prompt, Rubric, RubricVersion
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

__all__ = [
    "LabelItem",
    "LabelReveal",
    "QueueInfo",
    "QueueSpec",
    "create_queue",
    "list_queues",
    "next_item",
    "queue_spec",
    "reveal",
    "submit_label",
]


@dataclass(frozen=True)
class LabelItem:
    """One item to label, blind: no field here can hold what the judge said."""

    queue_id: int
    position: int
    response_id: int
    criterion_id: int | None  # None: score the whole response 1-10
    prompt_id: int
    question: str
    messages: list[Any] | None  # HealthBench conversations
    response: str
    criterion: CriterionView | None
    # Whole-response items: the prompt's current rubric, to score against.
    rubric: tuple[CriterionView, ...]
    remaining: int  # items left for this annotator, this one included
    reference_answer: str = ""  # the expert's, shown beside the item (not the judge's)
    assigned: bool = False  # given to this annotator by name (models.agreement.assignments)


@dataclass(frozen=True)
class LabelReveal:
    """Your stored label, then what the judges said about the same item."""

    label: LabelView
    verdicts: tuple[VerdictView, ...]  # (response, criterion) items
    judgments: tuple[JudgmentView, ...]  # whole responses: ratings and rewards

    @property
    def disagreements(self) -> int:
        """Judge verdicts that differ from your label (skips disagree with nobody)."""
        if self.label.met is None:
            return 0
        return sum(1 for v in self.verdicts if v.ok and v.met is not self.label.met)


def queue_spec(**fields: Any) -> QueueSpec:
    """A QueueSpec from form or CLI values, or InvalidInputError saying what to fix."""
    try:
        return QueueSpec(**fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'queue'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidInputError(f"cannot draw this queue: {problems}") from None


def create_queue(session: Session, actor: UserInfo, spec: QueueSpec) -> QueueInfo:
    """Draw a spot-check queue. Nothing is written if no judged item matches."""
    require(actor, Action.manage_spotchecks)
    if session.scalar(select(SpotCheckQueue.id).filter_by(name=spec.name)) is not None:
        raise InvalidInputError(f"a queue named {spec.name!r} exists; choose another name")
    try:
        with session.begin_nested():
            queue = SpotCheckQueue(
                name=spec.name,
                unit=spec.unit,
                strategy=spec.strategy,
                stratify_by=spec.stratify_by,
                seed=spec.seed,
                labels_per_item=spec.labels_per_item,
                params=spec.model_dump(
                    mode="json", include={"size", "run_ids", "dataset_ids", "reward_gap"}
                ),
                created_by_id=actor.id,
            )
            session.add(queue)
            session.flush()
            drawn = draw(session, queue.id, spec)
            if drawn == 0:  # raising inside the savepoint rolls the queue row back too
                raise InvalidInputError(
                    f"nothing to sample: no judged {spec.unit.value}s match these runs and "
                    "datasets; run a judge over them first, or widen the filters"
                )
    except IntegrityError:  # the same name taken between our check and the insert
        raise InvalidInputError(
            f"a queue named {spec.name!r} exists; choose another name"
        ) from None
    audit(
        session,
        actor=actor.username,
        user_id=actor.id,
        action="spotcheck.create_queue",
        entity="spotcheck_queue",
        entity_id=queue.id,
        details={**spec.model_dump(mode="json"), "drawn": drawn},
    )
    return list_queues(session, queue_id=queue.id)[0]


def _labeller_id(annotator: UserInfo) -> int:
    require(annotator, Action.label)
    if annotator.id is None:
        raise InvalidInputError("labels belong to a person: sign in with your own account")
    return annotator.id


def next_item(session: Session, annotator: UserInfo, *, queue_id: int) -> LabelItem | None:
    """The annotator's next unlabelled item in the queue, blind; None when done."""
    me = _labeller_id(annotator)
    queue = session.get(SpotCheckQueue, queue_id)
    if queue is None:
        raise NotFoundError(f"no spot-check queue with id {queue_id}")
    row = session.execute(
        text(f"""
        SELECT i.position, i.response_id, i.criterion_id, count(*) OVER () AS remaining,
               EXISTS (SELECT 1 FROM label_assignments a
                       WHERE a.item_id = i.id AND a.annotator_id = :me) AS assigned
        FROM spotcheck_items i
        WHERE i.queue_id = :queue_id
          AND NOT EXISTS (SELECT 1 FROM human_labels h WHERE h.annotator_id = :me AND {SAME_ITEM})
          AND (SELECT count(*) FROM human_labels h WHERE {SAME_ITEM} AND {ANSWERED}) < :per_item
        ORDER BY {ORDER_SQL}
        LIMIT 1
        """),
        {"queue_id": queue_id, "me": me, "per_item": queue.labels_per_item},
    ).first()
    if row is None:
        return None
    position, response_id, criterion_id, remaining, assigned = row
    prompt = session.execute(
        select(Prompt.id, Prompt.question, Prompt.messages, Prompt.reference_answer, Response.text)
        .join(Response, Response.prompt_id == Prompt.id)
        .where(Response.id == response_id)
    ).one()
    rubric: tuple[CriterionView, ...] = ()
    if criterion_id is None:
        ids = session.scalars(
            select(Criterion.id)
            .join(Rubric, Rubric.head_version_id == Criterion.version_id)
            .where(Rubric.prompt_id == prompt.id)
            .order_by(Criterion.position)
        ).all()
        views = criterion_views(session, ids)
        rubric = tuple(views[i] for i in ids)
    return LabelItem(
        queue_id=queue_id,
        position=position,
        response_id=response_id,
        criterion_id=criterion_id,
        prompt_id=prompt.id,
        question=prompt.question,
        messages=prompt.messages,
        response=prompt.text,
        criterion=(
            criterion_views(session, [criterion_id])[criterion_id]
            if criterion_id is not None
            else None
        ),
        rubric=rubric,
        remaining=remaining,
        reference_answer=prompt.reference_answer,
        assigned=assigned,
    )


def check_item(session: Session, response_id: int, criterion_id: int | None) -> None:
    """NotFoundError / InvalidInputError unless the criterion is one of the response's prompt's."""
    prompt_id = session.scalar(select(Response.prompt_id).where(Response.id == response_id))
    if prompt_id is None:
        raise NotFoundError(f"no response with id {response_id}")
    if criterion_id is None:
        return
    owner = session.scalar(
        select(Rubric.prompt_id)
        .join(RubricVersion, RubricVersion.rubric_id == Rubric.id)
        .join(Criterion, Criterion.version_id == RubricVersion.id)
        .where(Criterion.id == criterion_id)
    )
    if owner is None:
        raise NotFoundError(f"no criterion with id {criterion_id}")
    if owner != prompt_id:
        raise InvalidInputError(
            f"criterion {criterion_id} belongs to another prompt's rubric than response "
            f"{response_id}; nothing was saved"
        )


def check_answer(criterion_id: int | None, met: bool | None, score: int | None) -> None:
    """InvalidInputError unless the answer fits the item: met for a criterion, a score for
    a whole response."""
    if criterion_id is not None and score is not None:
        raise InvalidInputError("a criterion is met or not met: give met, not a score")
    if criterion_id is None and met is not None:
        raise InvalidInputError("a whole response gets a 1-10 score, not met / not met")
    if score is not None and (isinstance(score, bool) or score not in range(1, 11)):
        raise InvalidInputError(f"score must be a whole number from 1 to 10, got {score!r}")


def submit_label(
    session: Session,
    annotator: UserInfo,
    response_id: int,
    criterion_id: int | None,
    met: bool | None,
    *,
    score: int | None = None,
    note: str = "",
    seconds_spent: float | None = None,
) -> LabelReveal:
    """Store the annotator's label (met None / score None = skip), then reveal the
    judge's verdicts on the item. Corrections go through `corrections`."""
    me = _labeller_id(annotator)
    check_answer(criterion_id, met, score)
    if seconds_spent is not None and not (math.isfinite(seconds_spent) and seconds_spent >= 0):
        raise InvalidInputError(f"seconds spent must be 0 or more, got {seconds_spent!r}")
    check_item(session, response_id, criterion_id)
    stored = session.scalar(
        insert(HumanLabel)
        .values(
            annotator_id=me,
            response_id=response_id,
            criterion_id=criterion_id,
            met=met,
            score=score,
            note=note.strip(),
            seconds_spent=seconds_spent,
            is_adjudication=False,
        )
        .on_conflict_do_nothing()
        .returning(HumanLabel.id)
    )
    if stored is None:
        raise InvalidInputError(
            "you already labelled this item; nothing new was stored. To correct your "
            "label, use Undo or change it under 'Your labels'"
        )
    return reveal(session, annotator, response_id, criterion_id)


def reveal(
    session: Session, annotator: UserInfo, response_id: int, criterion_id: int | None
) -> LabelReveal:
    """The judge's side of an item this annotator has labelled; refused before that."""
    me = _labeller_id(annotator)
    label = session.scalar(
        select(HumanLabel).where(
            HumanLabel.annotator_id == me,
            HumanLabel.response_id == response_id,
            HumanLabel.criterion_id.is_(None)
            if criterion_id is None
            else HumanLabel.criterion_id == criterion_id,
            HumanLabel.is_adjudication.is_(False),
        )
    )
    if label is None:
        raise WorkflowError(
            "label this item first: the judge's verdict is shown only after your own label "
            "is stored"
        )
    username = session.scalar(select(User.username).where(User.id == me)) or annotator.username
    key = (response_id, criterion_id)
    return LabelReveal(
        label=label_view(label, username),
        verdicts=tuple(verdicts_for(session, [key]).get(key, ())),
        judgments=tuple(judgments_for(session, [response_id]).get(response_id, ()))
        if criterion_id is None
        else (),
    )
