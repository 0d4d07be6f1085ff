"""An annotator corrects their own spot-check labels: change one, or undo it.

A label is one row per annotator and item, so a change updates that row and
agreement always reads the annotator's latest answer. Each change and undo is
in the audit log with the label before (and after), flagged as made with the
judge's verdict already shown: corrections are possible, never silent. Undo
deletes the label, so the item comes back to the annotator's queue.

Only one's own, non-adjudication labels: someone else's label id is "not found",
so ids of other annotators' labels reveal nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rubricforge.models.accounts.permissions import UserInfo
from rubricforge.models.agreement.items import LabelView, label_view
from rubricforge.models.agreement.orm import HumanLabel, SpotCheckItem
from rubricforge.models.agreement.spotcheck import _labeller_id, check_answer
from rubricforge.models.core.audit import audit
from rubricforge.models.core.errors import InvalidInputError, NoChangesError, NotFoundError
from rubricforge.models.rubrics.orm import Criterion
from sqlalchemy import select
from sqlalchemy.orm import Session

MAX_NOTE = 2000


@dataclass(frozen=True)
class OwnLabel:
    """One of the asking annotator's labels in a queue, newest first in lists."""

    label_id: int
    position: int  # the item's place in the queue
    response_id: int
    criterion_id: int | None
    criterion_title: str | None  # None: a whole-response item
    met: bool | None
    score: int | None
    note: str
    created_at: datetime


def my_labels(
    session: Session, annotator: UserInfo, *, queue_id: int, limit: int = 200
) -> list[OwnLabel]:
    """The annotator's labels on this queue's items, the newest first."""
    me = _labeller_id(annotator)
    rows = session.execute(
        select(HumanLabel, SpotCheckItem.position, Criterion.title)
        .join(
            SpotCheckItem,
            (SpotCheckItem.response_id == HumanLabel.response_id)
            & SpotCheckItem.criterion_id.is_not_distinct_from(HumanLabel.criterion_id),
        )
        .outerjoin(Criterion, Criterion.id == HumanLabel.criterion_id)
        .where(
            SpotCheckItem.queue_id == queue_id,
            HumanLabel.annotator_id == me,
            HumanLabel.is_adjudication.is_(False),
        )
        .order_by(HumanLabel.id.desc())
        .limit(limit)
    ).all()
    return [
        OwnLabel(
            label_id=h.id,
            position=position,
            response_id=h.response_id,
            criterion_id=h.criterion_id,
            criterion_title=title,
            met=h.met,
            score=h.score,
            note=h.note,
            created_at=h.created_at,
        )
        for h, position, title in rows
    ]


def _own(session: Session, me: int, label_id: int) -> HumanLabel:
    label = session.get(HumanLabel, label_id, with_for_update=True)
    if label is None or label.annotator_id != me or label.is_adjudication:
        raise NotFoundError(f"you have no label with id {label_id}; nothing was changed")
    return label


def _values(label: HumanLabel) -> dict[str, Any]:
    return {"met": label.met, "score": label.score, "note": label.note}


def change_label(
    session: Session,
    annotator: UserInfo,
    label_id: int,
    met: bool | None,
    *,
    score: int | None = None,
    note: str | None = None,
) -> LabelView:
    """Replace your own label's answer (and note, unless None); audited."""
    me = _labeller_id(annotator)
    label = _own(session, me, label_id)
    check_answer(label.criterion_id, met, score)
    before = _values(label)
    new_note = label.note if note is None else note.strip()
    if len(new_note) > MAX_NOTE:
        raise InvalidInputError(f"a note is at most {MAX_NOTE} characters; nothing was changed")
    after: dict[str, Any] = {"met": met, "score": score, "note": new_note}
    if after == before:
        raise NoChangesError("that is already your label; nothing was changed")
    label.met, label.score, label.note = met, score, new_note
    audit(
        session,
        actor=annotator.username,
        user_id=me,
        action="label.change",
        entity="human_label",
        entity_id=label.id,
        details={
            "response_id": label.response_id,
            "criterion_id": label.criterion_id,
            "before": before,
            "after": after,
            "verdict_was_shown": True,
        },
    )
    session.flush()
    return label_view(label, annotator.username)


def undo_label(session: Session, annotator: UserInfo, label_id: int) -> None:
    """Remove your own label; the item comes back to your queue. Audited with what it was."""
    me = _labeller_id(annotator)
    label = _own(session, me, label_id)
    audit(
        session,
        actor=annotator.username,
        user_id=me,
        action="label.undo",
        entity="human_label",
        entity_id=label.id,
        details={
            "response_id": label.response_id,
            "criterion_id": label.criterion_id,
            "removed": _values(label),
            "verdict_was_shown": True,
        },
    )
    session.delete(label)
    session.flush()
