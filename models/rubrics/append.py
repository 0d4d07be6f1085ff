"""The one way a rubric gets a new version: the editor, the importer, drafting and
"restore this version" all append through `append_versions`.

The rules live here once:
- the rubric rows are locked (`FOR UPDATE`, in id order, so two writers cannot
  deadlock) and compared with what the caller loaded: its `lock_version` (the
  editor) or its head version (the importer); a mismatch is a StaleEditError;
- a retired rubric is never appended to (reopen it first);
- criteria obey `models.rubrics.criteria.criteria_problems` (bounds included),
  and a NUL in their text becomes U+FFFD with the flag `text:nul_replaced`;
- a version equal to the head is refused (NoChangesError) unless the caller
  asks otherwise (drafting may redraft the same content);
- the new version becomes the head and the rubric goes (back) to draft; an
  approval stays on record (`approved_version_id` is untouched), so the
  approved version stays exportable until another one is approved;
- the lock version is bumped, and an audit entry is written per version.

It is set-based: a batch of 20k versions costs the same handful of statements
as one (lock, insert versions, COPY criteria, move heads, audit), so bulk
imports and drafting keep their speed. Works on a SQLAlchemy Connection; ORM
callers pass `session.connection()` after a flush.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC
from typing import Any

import psycopg
from psycopg.copy import QueuedLibpqWriter
from rubricforge.models.accounts.permissions import UserInfo
from rubricforge.models.core.errors import (
    InvalidInputError,
    NoChangesError,
    StaleEditError,
    WorkflowError,
)
from rubricforge.models.core.text_safety import NUL, NUL_REPLACED_FLAG, clean_text
from rubricforge.models.rubrics.criteria import CriterionData, content_hash, criteria_problems
from rubricforge.models.rubrics.orm import RubricStatus, VersionSource
from sqlalchemy import Connection, text

# Head sources that mean a person made the version (an import or an LLM did not).
CURATED_SOURCES = frozenset({VersionSource.human.value, VersionSource.merge.value})


def is_curated(head_source: str | None, approved_version_id: int | None) -> bool:
    """True when the rubric holds work an expert edited or a reviewer approved,
    which an import must never overwrite without being asked."""
    return approved_version_id is not None or head_source in CURATED_SOURCES


@dataclass(frozen=True)
class NewVersion:
    """One version to append. `expected_lock_version` or `expected_head_id` (or
    neither, for a writer that holds no earlier view, e.g. drafting) says what
    the caller saw; `flags` are per criterion (computed from the criteria if None)."""

    rubric_id: int
    criteria: Sequence[CriterionData]
    source: VersionSource
    note: str = ""
    llm_model: str | None = None
    template_hash: str | None = None
    expected_lock_version: int | None = None
    expected_head_id: int | None = None
    check_head: bool = False  # compare expected_head_id (None: "no version yet")
    flags: Sequence[Sequence[str]] | None = None
    audit: dict[str, Any] = field(default_factory=dict)  # extra audit details


@dataclass(frozen=True)
class Appended:
    rubric_id: int
    version_id: int
    number: int
    parent_id: int | None
    content_hash: str
    previous_status: RubricStatus
    criteria: Sequence[CriterionData]  # as stored (NULs replaced)


_LOCK = text(
    "SELECT r.id, r.status, r.head_version_id, r.lock_version, r.updated_by_id, r.updated_at, "
    "hv.content_hash, hv.number AS head_number, "
    "coalesce((SELECT max(v.number) FROM rubric_versions v WHERE v.rubric_id = r.id), 0) "
    "AS last_number FROM rubrics r LEFT JOIN rubric_versions hv ON hv.id = r.head_version_id "
    "WHERE r.id = ANY(CAST(:ids AS int[])) ORDER BY r.id FOR UPDATE OF r"
)
_ADD = text(
    "INSERT INTO rubric_versions (rubric_id, number, parent_id, source, note, created_by_id, "
    "llm_model, template_hash, content_hash) "
    "SELECT u.rid, u.number, u.parent, u.source, u.note, :uid, "
    "u.model, u.thash, u.chash "
    "FROM unnest(CAST(:rids AS int[]), CAST(:numbers AS int[]), CAST(:parents AS int[]), "
    "CAST(:sources AS text[]), CAST(:notes AS text[]), CAST(:models AS text[]), "
    "CAST(:thashes AS text[]), CAST(:chashes AS text[])) "
    "AS u(rid, number, parent, source, note, model, thash, chash) RETURNING id, rubric_id"
)
_COPY_CRITERIA = (
    "COPY criteria (version_id, position, key, title, description, category, weight, tags, "
    "flags) FROM STDIN"
)
_MOVE_HEADS = text(
    "UPDATE rubrics AS r SET head_version_id = u.vid, status = :status, "
    "lock_version = r.lock_version + 1, updated_at = now(), updated_by_id = :uid "
    "FROM unnest(CAST(:rids AS int[]), CAST(:vids AS int[])) AS u(rid, vid) WHERE r.id = u.rid"
)
_AUDIT = text(
    "INSERT INTO audit_log (user_id, actor, action, entity, entity_id, details) "
    "SELECT :uid, :actor, :action, 'rubric', u.rid, u.details "
    "FROM unnest(CAST(:rids AS text[]), CAST(:details AS jsonb[])) AS u(rid, details)"
)


def append_versions(
    conn: Connection,
    user: UserInfo,
    items: Sequence[NewVersion],
    *,
    audit_action: str | None,
    allow_unchanged: bool = False,
    progress: bool = False,
) -> list[Appended]:
    """Append each item as its rubric's next version, all or nothing (the
    caller's transaction). Raises InvalidInputError, StaleEditError,
    WorkflowError or NoChangesError naming the rubric(s) and writes nothing.
    The caller checks the permission. `audit_action` None: the caller writes
    its own audit entry (the importer's one per run)."""
    if not items:
        return []
    ids = [i.rubric_id for i in items]
    if len(set(ids)) != len(ids):
        raise InvalidInputError("a rubric appears twice in one batch of versions; nothing saved")
    bad = [(i.rubric_id, p) for i in items for p in criteria_problems(i.criteria)]
    if bad:
        raise InvalidInputError(
            "criteria cannot be saved; nothing was saved:\n  "
            + "\n  ".join(f"rubric {rid}: {p}" for rid, p in bad[:50])
        )
    items = [_without_nul(i) for i in items]
    rows = {r.id: r for r in conn.execute(_LOCK, {"ids": sorted(ids)})}
    hashes = [content_hash(i.criteria) for i in items]
    _check(conn, items, rows, hashes, allow_unchanged)

    numbers = [rows[i.rubric_id].last_number + 1 for i in items]
    parents = [rows[i.rubric_id].head_version_id for i in items]
    added = conn.execute(
        _ADD,
        {
            "uid": user.id,
            "rids": ids,
            "numbers": numbers,
            "parents": parents,
            "sources": [i.source.value for i in items],
            "notes": [i.note.strip() for i in items],
            "models": [i.llm_model for i in items],
            "thashes": [i.template_hash for i in items],
            "chashes": hashes,
        },
    ).all()
    version_of = {rid: vid for vid, rid in added}
    vids = [version_of[rid] for rid in ids]
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection), "appending versions needs the psycopg driver"
    with raw.cursor() as cur, cur.copy(_COPY_CRITERIA, writer=QueuedLibpqWriter(cur)) as copy:
        for row in _criteria_rows(items, vids, progress):
            copy.write_row(row)
    status = RubricStatus.draft.value
    conn.execute(_MOVE_HEADS, {"status": status, "uid": user.id, "rids": ids, "vids": vids})
    out = [
        Appended(i.rubric_id, vid, n, parent, h, RubricStatus(rows[i.rubric_id].status), i.criteria)
        for i, vid, n, parent, h in zip(items, vids, numbers, parents, hashes, strict=True)
    ]
    if audit_action is not None:
        details = [
            json.dumps(
                {
                    "version_id": a.version_id,
                    "number": a.number,
                    "source": i.source.value,
                    "note": i.note.strip(),
                    "content_hash": a.content_hash,
                    "previous_status": a.previous_status.value,
                    **({"llm_model": i.llm_model} if i.llm_model else {}),
                    **({"template_hash": i.template_hash} if i.template_hash else {}),
                    **i.audit,
                },
                ensure_ascii=False,
                default=str,
            )
            for i, a in zip(items, out, strict=True)
        ]
        conn.execute(
            _AUDIT,
            {
                "uid": user.id,
                "actor": user.username,
                "action": audit_action,
                "rids": [str(r) for r in ids],
                "details": details,
            },
        )
    return out


def _check(
    conn: Connection,
    items: Sequence[NewVersion],
    rows: dict[int, Any],
    hashes: list[str],
    allow_unchanged: bool,
) -> None:
    missing = [i.rubric_id for i in items if i.rubric_id not in rows]
    if missing:
        raise InvalidInputError(f"no rubric with id {missing[0]}; nothing was saved")
    stale: list[str] = []
    retired: list[int] = []
    same: list[tuple[int, int]] = []
    for item, h in zip(items, hashes, strict=True):
        row, lock = rows[item.rubric_id], item.expected_lock_version
        if lock is not None and row.lock_version != lock:
            stale.append(stale_message(conn, row))
        elif item.check_head and row.head_version_id != item.expected_head_id:
            stale.append(f"rubric {row.id} got a new version after you loaded it")
        elif row.status == RubricStatus.retired.value:
            retired.append(row.id)
        elif not allow_unchanged and row.content_hash == h:
            same.append((row.id, row.head_number))
    if stale:
        if len(stale) == 1:
            raise StaleEditError(stale[0])
        raise StaleEditError(
            f"{len(stale)} rubrics were changed meanwhile (e.g. {stale[0]}); nothing was saved"
        )
    if retired:
        which = f"rubric {retired[0]} is" if len(retired) == 1 else f"rubrics {retired} are"
        raise WorkflowError(f"{which} retired; reopen it before editing")
    if same:
        raise NoChangesError(
            f"nothing to save: the criteria equal the current version {same[0][1]}"
            + (f" (rubric {same[0][0]})" if len(same) > 1 else "")
        )


def _without_nul(item: NewVersion) -> NewVersion:
    """The item with NULs in criterion text replaced by U+FFFD and flagged, so the
    content hash matches what is stored (the editor's path; imports and drafts
    have replaced them already)."""
    if not any(NUL in c.title or NUL in c.description for c in item.criteria):
        return item
    flags = item.flags if item.flags is not None else [c.flags for c in item.criteria]
    criteria, new_flags = [], []
    for c, f in zip(item.criteria, flags, strict=True):
        title, t = clean_text(c.title)
        description, d = clean_text(c.description)
        criteria.append(replace(c, title=title, description=description))
        new_flags.append([*f, NUL_REPLACED_FLAG] if t or d else list(f))
    return replace(item, criteria=criteria, flags=new_flags)


def stale_error(conn: Connection, rubric_id: int) -> StaleEditError:
    """The StaleEditError for a rubric someone changed after the caller loaded it."""
    row = conn.execute(
        text(
            "SELECT r.id, r.status, r.updated_by_id, r.updated_at, hv.number AS head_number "
            "FROM rubrics r LEFT JOIN rubric_versions hv ON hv.id = r.head_version_id "
            "WHERE r.id = :id"
        ),
        {"id": rubric_id},
    ).one()
    return StaleEditError(stale_message(conn, row))


def stale_message(conn: Connection, row: Any) -> str:
    """Who changed the rubric and when, for a refused save (the error path only)."""
    who = None
    if row.updated_by_id is not None:
        who = conn.execute(
            text("SELECT username FROM users WHERE id = :u"), {"u": row.updated_by_id}
        ).scalar()
    when = row.updated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f"rubric {row.id} was changed by {who or 'an import or the CLI'} at {when} after you "
        f"loaded it (it is now {RubricStatus(row.status).value}, version "
        f"{row.head_number or '-'}). Nothing was saved. Reload it, merge your edits into the "
        "current version, and save again."
    )


def _criteria_rows(
    items: Sequence[NewVersion], vids: list[int], progress: bool
) -> Iterator[tuple[Any, ...]]:
    from tqdm import tqdm

    with tqdm(total=len(items), desc="writing", unit=" rubrics", disable=not progress) as bar:
        for item, vid in zip(items, vids, strict=True):
            flags = item.flags if item.flags is not None else [c.flags for c in item.criteria]
            for position, (c, f) in enumerate(zip(item.criteria, flags, strict=True)):
                yield (vid, position, c.key, c.title, c.description, c.category.value,
                       c.weight, pg_array(c.tags) if c.tags else "{}",
                       pg_array(f) if f else "{}")  # fmt: skip
            bar.update()


def pg_array(items: Sequence[str]) -> str:
    """A text[] literal for COPY: psycopg's generic list dumper is several times
    slower, and there are two lists per criterion."""
    quoted = (s.replace("\\", "\\\\").replace('"', '\\"') for s in items)
    return "{" + ",".join(f'"{q}"' for q in quoted) + "}"
