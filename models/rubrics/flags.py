"""Stored criterion flags brought up to today's rules, and the one SQL test of
"flagged" that every count uses (import summary, Prompts, Overview agree).

The polarity rules (`criteria.polarity_flags`) have been sharpened since early
imports stored their flags; `refresh_flags` recomputes the polarity flags of
every stored criterion from its text and sign (other flags are kept), so an old
reading never lingers in counts. Migration 0011 runs it once; it is idempotent.
"""

from __future__ import annotations

from rubricforge.models.rubrics.criteria import POLARITY_FLAGS, current_flags
from rubricforge.models.rubrics.orm import Criterion
from sqlalchemy import ColumnElement, Connection, Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import String

BATCH = 5000


def flagged_clause() -> ColumnElement[bool]:
    """SQL: the criterion carries a polarity flag (the meaning of "flagged")."""
    return Criterion.flags.overlap(
        bindparam("polarity_flags", list(POLARITY_FLAGS), type_=ARRAY(String(100)))
    )


def refresh_flags(conn: Connection) -> int:
    """Recompute every stored criterion's polarity flags; returns how many changed.
    Reads in id order, a batch at a time, and writes only the rows that differ."""
    changed, last = 0, 0
    while True:
        rows = conn.execute(
            select(Criterion.id, Criterion.title, Criterion.description, Criterion.weight,
                   Criterion.flags)
            .where(Criterion.id > last)
            .order_by(Criterion.id)
            .limit(BATCH)
        ).all()  # fmt: skip
        if not rows:
            return changed
        last = rows[-1].id
        updates = [
            {"cid": r.id, "new_flags": new}
            for r in rows
            if (new := current_flags(r.title, r.description, r.weight, r.flags or []))
            != list(r.flags or [])
        ]
        if updates:
            table = Criterion.__table__
            assert isinstance(table, Table)
            conn.execute(
                update(table).where(table.c.id == bindparam("cid"))
                .values(flags=bindparam("new_flags")),
                updates,
            )  # fmt: skip
            changed += len(updates)
