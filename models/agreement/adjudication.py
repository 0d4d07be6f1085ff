"""Adjudication: when annotators disagree with each other, an expert decides.

An item is disputed when its answered (not skipped) annotator labels disagree:
both "met" and "not met" on a criterion, or whole-response scores at least
`score_gap` apart. The adjudicator sees both labels and the judge's verdicts
(`adjudication_queue` returns full `ItemDetail`s) and records the final label,
a HumanLabel with is_adjudication=True; agreement statistics use it in place
of the majority vote for that item. One final label per item (a unique index
holds it even when two experts race), and never by someone who labelled the
item themselves: the point is a third opinion.
"""

from __future__ import annotations

from rubricforge.models.accounts.orm import User
from rubricforge.models.accounts.permissions import Action, UserInfo, require
from rubricforge.models.agreement.items import (
    ItemDetail,
    LabelView,
    item_details,
    label_view,
    labels_for,
)
from rubricforge.models.agreement.orm import HumanLabel
from rubricforge.models.agreement.spotcheck import check_answer, check_item
from rubricforge.models.core.audit import audit
from rubricforge.models.core.errors import InvalidInputError
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

SCORE_GAP = 3  # whole-response scores this far apart (1-10 scale) need an adjudicator

_DISPUTED = """
SELECT h.response_id, h.criterion_id
FROM human_labels h
{queue_join}
WHERE NOT h.is_adjudication AND (h.met IS NOT NULL OR h.score IS NOT NULL)
GROUP BY h.response_id, h.criterion_id
HAVING (coalesce(bool_or(h.met) AND NOT bool_and(h.met), false)
        OR coalesce(max(h.score) - min(h.score) >= :score_gap, false))
   AND NOT bool_or(h.annotator_id = :me)
   AND NOT EXISTS (
       SELECT 1 FROM human_labels a
       WHERE a.is_adjudication AND a.response_id = h.response_id
         AND a.criterion_id IS NOT DISTINCT FROM h.criterion_id)
ORDER BY min(h.created_at), h.response_id, h.criterion_id
LIMIT :limit
"""


def _adjudicator_id(actor: UserInfo) -> int:
    require(actor, Action.adjudicate)
    if actor.id is None:
        raise InvalidInputError("a final label belongs to a person: sign in with your account")
    return actor.id


def adjudication_queue(
    session: Session,
    actor: UserInfo,
    *,
    queue_id: int | None = None,
    score_gap: int = SCORE_GAP,
    limit: int = 50,
) -> list[ItemDetail]:
    """Disputed items this expert may decide (not ones they labelled), oldest first,
    with both labels and the judge's verdicts. Reading it needs `adjudicate`, since
    it shows labels and verdicts that annotators must not see before labelling."""
    me = _adjudicator_id(actor)
    queue_join = (
        "JOIN spotcheck_items i ON i.queue_id = :queue_id AND i.response_id = h.response_id "
        "AND i.criterion_id IS NOT DISTINCT FROM h.criterion_id"
        if queue_id is not None
        else ""
    )
    params = {"me": me, "score_gap": score_gap, "limit": limit}
    if queue_id is not None:
        params["queue_id"] = queue_id
    keys = [
        tuple(r) for r in session.execute(text(_DISPUTED.format(queue_join=queue_join)), params)
    ]
    return item_details(session, keys)  # type: ignore[arg-type]


def adjudicate(
    session: Session,
    actor: UserInfo,
    response_id: int,
    criterion_id: int | None,
    *,
    met: bool | None = None,
    score: int | None = None,
    note: str = "",
    score_gap: int = SCORE_GAP,
) -> LabelView:
    """Record the final label of a disputed item: `met` for a criterion, `score`
    (1-10) for a whole response."""
    me = _adjudicator_id(actor)
    check_answer(criterion_id, met, score)
    if (met if criterion_id is not None else score) is None:
        raise InvalidInputError("a final label cannot be a skip: choose met / not met or a score")
    check_item(session, response_id, criterion_id)
    key = (response_id, criterion_id)
    labels = labels_for(session, [key]).get(key, [])
    final = next((lab for lab in labels if lab.is_adjudication), None)
    if final is not None:
        raise InvalidInputError(f"{final.annotator} already adjudicated this item")
    answered = [lab for lab in labels if lab.met is not None or lab.score is not None]
    if any(lab.annotator_id == me for lab in answered):
        raise InvalidInputError("you labelled this item yourself; another expert must decide it")
    mets = {lab.met for lab in answered if lab.met is not None}
    scores = [lab.score for lab in answered if lab.score is not None]
    disputed = len(mets) > 1 or (scores and max(scores) - min(scores) >= score_gap)
    if not disputed:
        raise InvalidInputError(
            "the annotators do not disagree on this item, so there is nothing to adjudicate"
        )
    label = HumanLabel(
        annotator_id=me,
        response_id=response_id,
        criterion_id=criterion_id,
        met=met,
        score=score,
        note=note.strip(),
        is_adjudication=True,
    )
    try:
        with session.begin_nested():
            session.add(label)
            session.flush()
    except IntegrityError:  # another expert decided it between our check and the insert
        raise InvalidInputError(
            "someone adjudicated this item a moment ago; reload to see their label"
        ) from None
    audit(
        session,
        actor=actor.username,
        user_id=me,
        action="label.adjudicate",
        entity="human_label",
        entity_id=label.id,
        details={
            "response_id": response_id,
            "criterion_id": criterion_id,
            "met": met,
            "score": score,
            "labels": [
                {"annotator": lab.annotator, "met": lab.met, "score": lab.score} for lab in answered
            ],
        },
    )
    username = session.scalar(select(User.username).where(User.id == me)) or actor.username
    return label_view(label, username)
