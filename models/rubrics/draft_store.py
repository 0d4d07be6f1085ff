"""Saving LLM drafts as rubric versions, many per transaction.

Bulk drafting (`models.rubrics.drafting.draft_dataset`) gets replies faster than one
transaction per prompt can commit on a small machine, so drafts are saved in
batches: one statement per table over arrays, and a COPY for the criteria. The
SQL text never changes with the batch size, so psycopg prepares each statement
once. The versions go through `models.rubrics.append.append_versions`, the one
way every writer appends (retired rubrics refused, bounds checked, head moved,
lock version bumped, an audit entry per version).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rubricforge.models.accounts.permissions import OPERATOR, Action, UserInfo, require
from rubricforge.models.core.errors import RubricforgeError
from rubricforge.models.rubrics.append import NewVersion, append_versions
from rubricforge.models.rubrics.orm import RubricStatus, VersionSource
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from rubricforge.models.rubrics.drafting import Draft


def save_drafts(
    engine: Engine, drafts: Sequence[tuple[int, Draft]], user: UserInfo = OPERATOR
) -> dict[int, str]:
    """Save each (prompt id, draft) as a new version of the prompt's rubric.

    All in one transaction when they all go in, which is what makes bulk
    drafting keep up with 64 requests in flight; if that fails, each prompt
    alone, so a bad one costs only itself. Either way a prompt's rubric is
    saved whole or not at all. Returns {prompt id: error} for those not saved.
    """
    require(user, Action.draft_rubric)
    try:
        with engine.begin() as conn:
            _insert_versions(conn, drafts, user)
        return {}
    except (SQLAlchemyError, RubricforgeError) as exc:
        if len(drafts) == 1:
            return {drafts[0][0]: _db_reason(exc)}
    errors: dict[int, str] = {}
    for item in drafts:
        try:
            with engine.begin() as conn:
                _insert_versions(conn, [item], user)
        except (SQLAlchemyError, RubricforgeError) as exc:
            errors[item[0]] = _db_reason(exc)
    return errors


def _db_reason(exc: SQLAlchemyError | RubricforgeError) -> str:
    if isinstance(exc, RubricforgeError):
        return f"not saved: {exc}"
    orig = getattr(exc, "orig", None)
    return f"not saved: {(orig or exc).__class__.__name__}: {str(orig or exc).splitlines()[0]}"


_CREATE_RUBRICS = text(
    "INSERT INTO rubrics (prompt_id, status, updated_by_id, lock_version) "
    "SELECT unnest(CAST(:prompt_ids AS int[])), :status, :uid, 1 "
    "ON CONFLICT (prompt_id) DO NOTHING"
)
_RUBRIC_IDS = text(
    "SELECT prompt_id, id FROM rubrics WHERE prompt_id = ANY(CAST(:prompt_ids AS int[]))"
)


def _insert_versions(conn: Connection, drafts: Sequence[tuple[int, Draft]], user: UserInfo) -> None:
    ids = {"prompt_ids": sorted(pid for pid, _ in drafts)}
    conn.execute(_CREATE_RUBRICS, {**ids, "status": RubricStatus.draft.value, "uid": user.id})
    rubric_of: dict[int, int] = {pid: rid for pid, rid in conn.execute(_RUBRIC_IDS, ids)}
    items = [
        NewVersion(
            rubric_of[pid],
            d.criteria,
            VersionSource.llm,
            note=f"LLM draft by {d.model} (template {d.template_hash[:12]})",
            llm_model=d.model,
            template_hash=d.template_hash,
            flags=d.flags,
            audit={"prompt_id": pid},
        )
        for pid, d in drafts
    ]
    # A redraft may repeat the head's content: it is still a new LLM version.
    append_versions(conn, user, items, audit_action="rubric.draft", allow_unchanged=True)
