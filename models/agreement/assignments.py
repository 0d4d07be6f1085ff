"""Spot-check items given to named annotators.

Whoever draws queues (`Action.manage_spotchecks`: a lead expert, a researcher, an admin)
gives an annotator some of a queue's items: by position ("1-50, 75") or as a share
of the queue (0.25: a quarter of its items). A share takes the items nobody has been
given yet, in queue order, so shares of 0.5 to two annotators split the sample; when
fewer are left it takes what is left. Items already given to that annotator are not
counted twice.

`next_item` serves an annotator their assigned items first, then unassigned ones, then
items given to someone else (so a colleague's share waits for them, but nothing is
blocked). An assignment only orders the queue: whether an item still needs a label is
decided by `labels_per_item` as before.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from rubricforge.models.accounts.orm import User
from rubricforge.models.accounts.permissions import PERMISSIONS, Action, UserInfo, can, require
from rubricforge.models.agreement.orm import LabelAssignment, SpotCheckItem, SpotCheckQueue
from rubricforge.models.core.audit import audit
from rubricforge.models.core.errors import InvalidInputError, NotFoundError
from rubricforge.models.core.text_safety import clean_text
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

__all__ = ["AssignmentRow", "assign_items", "assignments", "labellers", "parse_positions"]

MAX_POSITIONS = 100_000
_RANGE = re.compile(r"^\s*(\d{1,6})\s*(?:-\s*(\d{1,6})\s*)?$")

# next_item's order: mine first (0), then nobody's (1), then someone else's (2).
ASSIGNED_ORDER = """
    (SELECT CASE WHEN bool_or(a.annotator_id = :me) THEN 0 WHEN count(*) > 0 THEN 2 ELSE 1 END
     FROM label_assignments a WHERE a.item_id = i.id)
"""
ORDER_SQL = f"{ASSIGNED_ORDER}, i.position"


@dataclass(frozen=True)
class AssignmentRow:
    annotator: str
    assigned: int  # items of the queue given to them
    labelled: int  # of those, items they have labelled (skips included)


def parse_positions(spec: str) -> list[int]:
    """'1-5, 9' -> [1, 2, 3, 4, 5, 9], or InvalidInputError saying what to fix."""
    spec = clean_text(spec)[0]
    positions: set[int] = set()
    for part in (p for p in spec.split(",") if p.strip()):
        m = _RANGE.match(part)
        if m is None:
            raise InvalidInputError(
                f"{part.strip()!r} is not a position or a range; write e.g. 1-50, 75"
            )
        lo, hi = int(m[1]), int(m[2] or m[1])
        if lo < 1 or hi < lo:
            raise InvalidInputError(f"{part.strip()!r}: a range runs from 1 up, low to high")
        if len(positions) + hi - lo + 1 > MAX_POSITIONS:
            raise InvalidInputError(f"at most {MAX_POSITIONS:,} positions at once")
        positions.update(range(lo, hi + 1))
    if not positions:
        raise InvalidInputError("give the positions to assign, e.g. 1-50, 75")
    return sorted(positions)


def _annotator(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == clean_text(username)[0].strip()))
    if user is None:
        raise NotFoundError(f"no user named {username!r}")
    info = UserInfo(id=user.id, username=user.username, role=user.role)
    if not can(info, Action.label):
        raise InvalidInputError(
            f"{user.username} ({user.role.value}) does not label; assign items to an annotator"
        )
    return user


def assign_items(
    session: Session,
    actor: UserInfo,
    queue_id: int,
    annotator: str,
    *,
    positions: list[int] | None = None,
    share: float | None = None,
) -> int:
    """Give the annotator the items at `positions`, or `share` (0-1] of the queue's items
    (those nobody has yet, in queue order). Returns how many were newly assigned;
    nothing is written when the input is bad."""
    require(actor, Action.manage_spotchecks)
    if (positions is None) == (share is None):
        raise InvalidInputError("assign either positions or a share of the queue, not both")
    queue = session.get(SpotCheckQueue, queue_id)
    if queue is None:
        raise NotFoundError(f"no spot-check queue with id {queue_id}")
    user = _annotator(session, annotator)
    total = session.scalar(select(func.count()).where(SpotCheckItem.queue_id == queue_id)) or 0
    if positions is not None:
        rows = session.execute(
            select(SpotCheckItem.position, SpotCheckItem.id).where(
                SpotCheckItem.queue_id == queue_id, SpotCheckItem.position.in_(positions)
            )
        ).all()
        missing = sorted(set(positions) - {r.position for r in rows})
        if missing:
            shown = ", ".join(map(str, missing[:5])) + (" ..." if len(missing) > 5 else "")
            raise InvalidInputError(
                f"queue {queue.name} has items 1 to {total}; no item at {shown}. "
                "Nothing was assigned"
            )
        item_ids = [r.id for r in rows]
    else:
        assert share is not None
        if not (math.isfinite(share) and 0 < share <= 1):
            raise InvalidInputError(f"a share is more than 0 and at most 1, got {share!r}")
        wanted = max(1, round(share * total))
        item_ids = list(
            session.scalars(
                text("""
                SELECT i.id FROM spotcheck_items i
                WHERE i.queue_id = :queue_id
                  AND NOT EXISTS (SELECT 1 FROM label_assignments a WHERE a.item_id = i.id)
                ORDER BY i.position LIMIT :wanted
                """),
                {"queue_id": queue_id, "wanted": wanted},
            )
        )
    added = 0
    if item_ids:
        result = session.execute(
            insert(LabelAssignment)
            .values(
                [
                    {"item_id": i, "annotator_id": user.id, "assigned_by_id": actor.id}
                    for i in item_ids
                ]
            )
            .on_conflict_do_nothing()
            .returning(LabelAssignment.id)
        )
        added = len(result.all())
    audit(
        session,
        actor=actor.username,
        user_id=actor.id,
        action="spotcheck.assign",
        entity="spotcheck_queue",
        entity_id=queue_id,
        details={
            "annotator": user.username,
            "share": share,
            "items": len(item_ids),
            "added": added,
        },  # fmt: skip
    )
    return added


def labellers(session: Session) -> list[str]:
    """Usernames of the active accounts that label (annotators, admins), by name."""
    roles = PERMISSIONS[Action.label]
    return list(
        session.scalars(
            select(User.username)
            .where(User.is_active, User.role.in_(roles))
            .order_by(User.username)
        )
    )


def assignments(session: Session, queue_id: int) -> list[AssignmentRow]:
    """Who was given how many of the queue's items, and how many of those they labelled."""
    rows = session.execute(
        text("""
        SELECT u.username, count(*) AS assigned,
               count(*) FILTER (WHERE EXISTS (
                   SELECT 1 FROM human_labels h
                   WHERE h.annotator_id = a.annotator_id AND h.response_id = i.response_id
                     AND h.criterion_id IS NOT DISTINCT FROM i.criterion_id
                     AND NOT h.is_adjudication)) AS labelled
        FROM label_assignments a
        JOIN spotcheck_items i ON i.id = a.item_id
        JOIN users u ON u.id = a.annotator_id
        WHERE i.queue_id = :queue_id
        GROUP BY u.username ORDER BY u.username
        """),
        {"queue_id": queue_id},
    )
    return [AssignmentRow(annotator=r[0], assigned=r[1], labelled=r[2]) for r in rows]
