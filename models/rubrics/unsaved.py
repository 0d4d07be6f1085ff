"""Unsaved editor edits kept on the server, so a reload (a new browser session)
loses nothing a user curated.

One row per (user, prompt) in `editor_drafts`: the rows the editor's table
started from, the data editor's edits to them (its state dict as it is, so rows
that cannot become criteria yet are kept too), and the rubric lock and head
version they were made on. A draft is never a rubric version and never changes
the rubric: saving a version or discarding deletes it. Only its owner sees it.
Everything through here is bounded (criteria count, characters per field) and a
draft over a bound is refused whole, with nothing written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rubricforge.models.accounts.permissions import Action, UserInfo, require
from rubricforge.models.core.errors import InvalidInputError
from rubricforge.models.core.text_safety import scrub
from rubricforge.models.rubrics.criteria import MAX_CRITERIA, CriterionData, parse_category
from rubricforge.models.rubrics.orm import Dataset, EditorDraft, Prompt
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

MAX_FIELD = 50_000  # characters in any one cell of a kept table
MAX_DRAFT_CHARS = 2_000_000  # the whole kept table, as JSON
EDIT_KEYS = ("edited_rows", "added_rows", "deleted_rows")


@dataclass(frozen=True)
class StoredEdits:
    """A user's unsaved table for one prompt, as the editor restores it."""

    prompt_id: int
    label: str  # "dataset / uid"
    base: tuple[CriterionData, ...]
    edits: dict[str, Any]
    lock_version: int | None
    head_version_id: int | None
    updated_at: datetime


def _criterion_json(c: CriterionData) -> dict[str, Any]:
    return {
        "key": c.key,
        "title": c.title,
        "description": c.description,
        "category": c.category.value,
        "weight": float(c.weight),
        "tags": list(c.tags),
    }


def _criterion(d: Mapping[str, Any]) -> CriterionData:
    category = parse_category(str(d["category"]))
    if category is None:
        raise InvalidInputError(f"kept criterion has unknown category {d['category']!r}")
    return CriterionData(
        title=str(d["title"]),
        description=str(d["description"]),
        category=category,
        weight=float(d["weight"]),
        key=str(d["key"]),
        tags=tuple(d.get("tags") or ()),
    )


def _long_strings(value: Any) -> int:
    """How many strings (keys too) in a JSON-like value are over MAX_FIELD."""
    if isinstance(value, str):
        return int(len(value) > MAX_FIELD)
    if isinstance(value, Mapping):
        return sum(_long_strings(k) + _long_strings(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return sum(_long_strings(v) for v in value)
    return 0


def draft_problems(base: list[dict[str, Any]], edits: Mapping[str, Any]) -> list[str]:
    """Why this table cannot be kept as a draft; empty if it can."""
    problems = []
    unknown = sorted(str(k) for k in edits if k not in EDIT_KEYS)
    if unknown:
        problems.append(f"unknown parts {', '.join(unknown)}")
    added = edits.get("added_rows") or []
    if not isinstance(added, list):
        problems.append("added_rows is not a list")
        added = []
    if len(base) + len(added) > MAX_CRITERIA:
        problems.append(
            f"{len(base) + len(added)} rows: a rubric has at most {MAX_CRITERIA} criteria"
        )
    long = _long_strings(base) + _long_strings(dict(edits))
    if long:
        problems.append(f"{long} cell(s) longer than {MAX_FIELD:,} characters")
    elif len(json.dumps([base, dict(edits)], default=str)) > MAX_DRAFT_CHARS:
        problems.append(f"the table is over {MAX_DRAFT_CHARS:,} characters in all")
    return problems


def save_unsaved_edits(
    session: Session,
    actor: UserInfo,
    prompt_id: int,
    base: Sequence[CriterionData],
    edits: Mapping[str, Any],
    *,
    lock_version: int | None = None,
    head_version_id: int | None = None,
) -> None:
    """Keep (or replace) the actor's unsaved table for the prompt. Refused whole,
    with nothing written, when it is over a bound."""
    require(actor, Action.edit_rubric)
    if actor.id is None:
        raise InvalidInputError("Only a signed-in user's unsaved edits are kept.")
    rows = [_criterion_json(c) for c in base]
    problems = draft_problems(rows, edits)
    if problems:
        raise InvalidInputError(
            "Your unsaved edits are too large to keep on the server (they stay in this "
            "browser tab until you save or discard): " + "; ".join(problems) + "."
        )
    clean_rows, _ = scrub(rows)
    clean_edits, _ = scrub(json.loads(json.dumps(dict(edits), default=str)))
    values = {
        "base": clean_rows,
        "edits": clean_edits,
        "lock_version": lock_version,
        "head_version_id": head_version_id,
        "updated_at": func.now(),
    }
    stmt = insert(EditorDraft).values(user_id=actor.id, prompt_id=prompt_id, **values)
    session.execute(
        stmt.on_conflict_do_update(index_elements=["user_id", "prompt_id"], set_=values)
    )


def load_unsaved_edits(session: Session, actor: UserInfo, prompt_id: int) -> StoredEdits | None:
    """The actor's kept table for the prompt, or None."""
    require(actor, Action.edit_rubric)
    row = session.execute(
        select(EditorDraft, Prompt.external_id, Dataset.name)
        .join(Prompt, Prompt.id == EditorDraft.prompt_id)
        .join(Dataset, Dataset.id == Prompt.dataset_id)
        .where(EditorDraft.user_id == actor.id, EditorDraft.prompt_id == prompt_id)
    ).one_or_none()
    if row is None:
        return None
    draft, external_id, dataset = row
    return StoredEdits(
        prompt_id=prompt_id,
        label=f"{dataset} / {external_id}",
        base=tuple(_criterion(d) for d in draft.base),
        edits=dict(draft.edits),
        lock_version=draft.lock_version,
        head_version_id=draft.head_version_id,
        updated_at=draft.updated_at,
    )


def list_unsaved_edits(session: Session, actor: UserInfo) -> dict[int, str]:
    """Prompt id -> "dataset / uid" of every prompt the actor has kept edits for,
    the most recent first."""
    require(actor, Action.edit_rubric)
    rows = session.execute(
        select(EditorDraft.prompt_id, Dataset.name, Prompt.external_id)
        .join(Prompt, Prompt.id == EditorDraft.prompt_id)
        .join(Dataset, Dataset.id == Prompt.dataset_id)
        .where(EditorDraft.user_id == actor.id)
        .order_by(EditorDraft.updated_at.desc(), EditorDraft.prompt_id)
    ).all()
    return {pid: f"{dataset} / {external_id}" for pid, dataset, external_id in rows}


def discard_unsaved_edits(session: Session, actor: UserInfo, prompt_id: int) -> bool:
    """Forget the actor's kept table for the prompt; whether there was one."""
    require(actor, Action.edit_rubric)
    result = session.execute(
        delete(EditorDraft).where(
            EditorDraft.user_id == actor.id, EditorDraft.prompt_id == prompt_id
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
