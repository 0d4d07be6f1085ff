"""Spot-check queues as a list: each with its progress, and for an annotator what is
theirs (labelled by them, assigned to them and still open)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rubricforge.models.accounts.permissions import UserInfo
from rubricforge.models.agreement.orm import ItemUnit, SamplingStrategy, Stratum
from sqlalchemy import text
from sqlalchemy.orm import Session

__all__ = ["ANSWERED", "SAME_ITEM", "QueueInfo", "list_queues"]

# A label "answers" an item unless it was skipped; adjudications are counted apart.
ANSWERED = "(h.met IS NOT NULL OR h.score IS NOT NULL) AND NOT h.is_adjudication"
SAME_ITEM = "h.response_id = i.response_id AND h.criterion_id IS NOT DISTINCT FROM i.criterion_id"


@dataclass(frozen=True)
class QueueInfo:
    id: int
    name: str
    unit: ItemUnit
    strategy: SamplingStrategy
    stratify_by: Stratum | None
    labels_per_item: int
    items: int
    complete: int  # items with labels_per_item answered labels
    yours: int  # items the asking annotator labelled (0 when nobody asked)
    created_at: datetime
    assigned_open: int = 0  # items assigned to the asking annotator, not labelled by them


def list_queues(
    session: Session, annotator: UserInfo | None = None, *, queue_id: int | None = None
) -> list[QueueInfo]:
    """Every queue (or the one asked for) with its progress, newest first; `yours`
    counts the items `annotator` labelled, `assigned_open` those given to them still open."""
    rows = session.execute(
        text(f"""
        SELECT q.id, q.name, q.unit, q.strategy, q.stratify_by, q.labels_per_item,
               count(i.id) AS items,
               count(i.id) FILTER (WHERE coalesce(l.answered, 0) >= q.labels_per_item),
               count(i.id) FILTER (WHERE l.mine),
               q.created_at,
               count(i.id) FILTER (WHERE NOT coalesce(l.mine, false) AND EXISTS (
                   SELECT 1 FROM label_assignments a
                   WHERE a.item_id = i.id AND a.annotator_id = :me))
        FROM spotcheck_queues q
        LEFT JOIN spotcheck_items i ON i.queue_id = q.id
        LEFT JOIN LATERAL (
            SELECT count(*) FILTER (WHERE {ANSWERED}) AS answered,
                   bool_or(h.annotator_id = :me AND NOT h.is_adjudication) AS mine
            FROM human_labels h WHERE {SAME_ITEM}
        ) l ON true
        WHERE CAST(:queue_id AS integer) IS NULL OR q.id = :queue_id
        GROUP BY q.id ORDER BY q.id DESC
        """),
        {"me": annotator.id if annotator else None, "queue_id": queue_id},
    )
    return [
        QueueInfo(
            id=r[0],
            name=r[1],
            unit=ItemUnit(r[2]),
            strategy=SamplingStrategy(r[3]),
            stratify_by=Stratum(r[4]) if r[4] else None,
            labels_per_item=r[5],
            items=r[6],
            complete=r[7],
            yours=r[8],
            created_at=r[9],
            assigned_open=r[10],
        )
        for r in rows
    ]
