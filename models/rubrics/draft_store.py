"""Saving LLM drafts as rubric versions, many per transaction.

Bulk drafting (`models.rubrics.drafting.draft_dataset`) gets replies faster than one
transaction per prompt can commit on a small machine, so drafts are saved in
batches: one statement per table over arrays, and a COPY for the criteria. The
SQL text never changes with the batch size, so psycopg prepares each statement
once. The rules match `models.rubrics.authoring.save_version`: a new immutable version,
the head moves, the rubric goes (back) to draft, its lock version is bumped, and
an audit entry is written per version.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rubricforge.models.accounts.permissions import OPERATOR, Action, UserInfo, require
from rubricforge.models.rubrics.criteria import content_hash
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
    except SQLAlchemyError as exc:
        if len(drafts) == 1:
            return {drafts[0][0]: _db_reason(exc)}
    errors: dict[int, str] = {}
    for item in drafts:
        try:
            with engine.begin() as conn:
                _insert_versions(conn, [item], user)
        except SQLAlchemyError as exc:
            errors[item[0]] = _db_reason(exc)
    return errors


def _db_reason(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    return f"not saved: {(orig or exc).__class__.__name__}: {str(orig or exc).splitlines()[0]}"


# The SQL, in one place. Arrays keep the text the same whatever the batch size.
_CREATE_RUBRICS = text(
    "INSERT INTO rubrics (prompt_id, status, updated_by_id, lock_version) "
    "SELECT unnest(CAST(:prompt_ids AS int[])), :status, :uid, 1 "
    "ON CONFLICT (prompt_id) DO NOTHING"
)
# Locked in prompt order, so two runs over the same prompts cannot deadlock.
_LOCK_HEADS = text(
    "SELECT r.id, r.prompt_id, r.head_version_id, "
    "coalesce((SELECT max(v.number) FROM rubric_versions v WHERE v.rubric_id = r.id), 0) "
    "FROM rubrics r WHERE r.prompt_id = ANY(CAST(:prompt_ids AS int[])) "
    "ORDER BY r.prompt_id FOR UPDATE OF r"
)
_ADD_VERSIONS = text(
    "INSERT INTO rubric_versions (rubric_id, number, parent_id, source, note, created_by_id, "
    "llm_model, template_hash, content_hash) "
    "SELECT u.rubric_id, u.number, u.parent_id, :source, u.note, :uid, u.model, u.thash, u.chash "
    "FROM unnest(CAST(:rubric_ids AS int[]), CAST(:numbers AS int[]), CAST(:parents AS int[]), "
    "CAST(:notes AS text[]), CAST(:models AS text[]), CAST(:thashes AS text[]), "
    "CAST(:chashes AS text[])) AS u(rubric_id, number, parent_id, note, model, thash, chash) "
    "RETURNING id, rubric_id"
)
_COPY_CRITERIA = (
    "COPY criteria (version_id, position, key, title, description, category, weight, tags, "
    "flags) FROM STDIN"
)
# lock_version is bumped by hand (this is not the ORM's unit of work), so an expert
# who loaded the rubric before this draft gets a stale-edit refusal on save.
_MOVE_HEADS = text(
    "UPDATE rubrics AS r SET head_version_id = u.vid, status = :status, "
    "lock_version = r.lock_version + 1, updated_at = now(), updated_by_id = :uid "
    "FROM unnest(CAST(:rubric_ids AS int[]), CAST(:version_ids AS int[])) AS u(rid, vid) "
    "WHERE r.id = u.rid"
)
_AUDIT = text(
    "INSERT INTO audit_log (user_id, actor, action, entity, entity_id, details) "
    "SELECT :uid, :actor, 'rubric.draft', 'rubric', u.rid, u.details "
    "FROM unnest(CAST(:rubric_ids AS text[]), CAST(:details AS jsonb[])) AS u(rid, details)"
)


def _insert_versions(conn: Connection, drafts: Sequence[tuple[int, Draft]], user: UserInfo) -> None:
    by_prompt = dict(drafts)
    status = RubricStatus.draft.value
    ids = {"prompt_ids": sorted(by_prompt)}
    conn.execute(_CREATE_RUBRICS, {**ids, "status": status, "uid": user.id})
    heads = conn.execute(_LOCK_HEADS, ids).all()
    hashes = {pid: content_hash(d.criteria) for pid, d in by_prompt.items()}
    new = [(rid, pid, head, number + 1, by_prompt[pid]) for rid, pid, head, number in heads]
    added = conn.execute(
        _ADD_VERSIONS,
        {
            "source": VersionSource.llm.value,
            "uid": user.id,
            "rubric_ids": [n[0] for n in new],
            "numbers": [n[3] for n in new],
            "parents": [n[2] for n in new],
            "notes": [f"LLM draft by {d.model} (template {d.template_hash[:12]})" for *_, d in new],
            "models": [d.model for *_, d in new],
            "thashes": [d.template_hash for *_, d in new],
            "chashes": [hashes[n[1]] for n in new],
        },
    ).all()
    version_of = {rubric_id: vid for vid, rubric_id in added}
    # COPY on the same connection, so it is part of this transaction.
    raw = conn.connection.driver_connection
    assert raw is not None  # an open transaction has a driver connection
    with raw.cursor() as cur, cur.copy(_COPY_CRITERIA) as copy:
        for rid, _, _, _, d in new:
            vid = version_of[rid]
            for pos, (c, flags) in enumerate(zip(d.criteria, d.flags, strict=True)):
                copy.write_row(
                    (vid, pos, c.key, c.title, c.description, c.category.value, c.weight,
                     _pg_array(c.tags), _pg_array(flags))
                )  # fmt: skip
    rubric_ids = [n[0] for n in new]
    version_ids = [version_of[rid] for rid in rubric_ids]
    conn.execute(
        _MOVE_HEADS,
        {"status": status, "uid": user.id, "rubric_ids": rubric_ids, "version_ids": version_ids},
    )
    details = [
        json.dumps({
            "version_id": version_of[rid], "number": number, "prompt_id": pid,
            "source": VersionSource.llm.value, "llm_model": d.model,
            "template_hash": d.template_hash, "content_hash": hashes[pid],
        })
        for rid, pid, _, number, d in new
    ]  # fmt: skip
    conn.execute(
        _AUDIT,
        {"uid": user.id, "actor": user.username, "rubric_ids": [str(r) for r in rubric_ids],
         "details": details},
    )  # fmt: skip


def _pg_array(items: Sequence[str]) -> str:
    """A text[] literal for COPY (psycopg's generic list dumper is far slower)."""
    quoted = (s.replace("\\", "\\\\").replace('"', '\\"') for s in items)
    return "{" + ",".join(f'"{q}"' for q in quoted) + "}"
