"""Unsaved editor edits kept on the server: saved, loaded, listed and discarded
for their owner only, never a rubric version, and bounded (refused whole)."""

from __future__ import annotations

import pytest
from rubricforge.models.accounts.auth import add_user
from rubricforge.models.accounts.permissions import OPERATOR, UserInfo
from rubricforge.models.core.db import session_scope
from rubricforge.models.core.errors import InvalidInputError
from rubricforge.models.demo.loader import load_demo
from rubricforge.models.rubrics.authoring import load_editor_state
from rubricforge.models.rubrics.orm import EditorDraft, Prompt
from rubricforge.models.rubrics.unsaved import (
    MAX_FIELD,
    discard_unsaved_edits,
    list_unsaved_edits,
    load_unsaved_edits,
    save_unsaved_edits,
)
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

pytestmark = pytest.mark.db


@pytest.fixture
def world(engine: Engine) -> tuple[UserInfo, UserInfo, int]:
    load_demo(engine)
    with session_scope(engine) as s:
        a = add_user(s, "ann", "expert", "long enough password", actor=OPERATOR)
        b = add_user(s, "bob", "expert", "long enough password", actor=OPERATOR)
        pid = s.scalars(select(Prompt.id).where(Prompt.external_id == "med-004")).one()
    return a, b, pid


def count(engine: Engine) -> int:
    with Session(engine) as s:
        return s.scalar(select(func.count()).select_from(EditorDraft)) or 0


def test_save_load_list_discard(engine: Engine, world: tuple[UserInfo, UserInfo, int]) -> None:
    ann, bob, pid = world
    with Session(engine) as s:
        state = load_editor_state(s, pid)
    lock = {"lock_version": state.lock_version, "head_version_id": state.head_version_id}
    edits = {"edited_rows": {"0": {"weight": 1}}, "added_rows": [], "deleted_rows": [2]}
    with session_scope(engine) as s:
        save_unsaved_edits(s, ann, pid, state.criteria, edits, **lock)
    with session_scope(engine) as s:  # a second save replaces the first
        edits["deleted_rows"] = [1]
        save_unsaved_edits(s, ann, pid, state.criteria, edits, **lock)
    assert count(engine) == 1
    with Session(engine) as s:
        kept = load_unsaved_edits(s, ann, pid)
        assert kept is not None
        assert kept.base == state.criteria
        assert [c.key for c in kept.base] == [c.key for c in state.criteria]
        assert kept.edits == edits
        assert (kept.lock_version, kept.head_version_id) == (
            state.lock_version,
            state.head_version_id,
        )
        assert list_unsaved_edits(s, ann) == {pid: "demo-medicine / med-004"}
        # Another user sees nothing of mine.
        assert load_unsaved_edits(s, bob, pid) is None
        assert list_unsaved_edits(s, bob) == {}
        # The rubric is untouched.
        assert load_editor_state(s, pid) == state
    with session_scope(engine) as s:
        assert discard_unsaved_edits(s, bob, pid) is False
        assert discard_unsaved_edits(s, ann, pid) is True
    assert count(engine) == 0


@pytest.mark.parametrize(
    "edits",
    [
        {"edited_rows": {"0": {"description": "x" * (MAX_FIELD + 1)}}},
        {"added_rows": [{"title": "t", "description": "d"}] * 101},
        {"something_else": 1},
    ],
)
def test_oversized_drafts_are_refused_with_nothing_written(
    engine: Engine, world: tuple[UserInfo, UserInfo, int], edits: dict[str, object]
) -> None:
    ann, _, pid = world
    with Session(engine) as s:
        state = load_editor_state(s, pid)
    with pytest.raises(InvalidInputError, match="too large to keep"), session_scope(engine) as s:
        save_unsaved_edits(s, ann, pid, state.criteria, edits)
    assert count(engine) == 0


def test_nul_in_an_edit_is_kept_safely(
    engine: Engine, world: tuple[UserInfo, UserInfo, int]
) -> None:
    ann, _, pid = world
    with session_scope(engine) as s:
        save_unsaved_edits(s, ann, pid, (), {"added_rows": [{"title": "a\x00b"}]})
    with Session(engine) as s:
        kept = load_unsaved_edits(s, ann, pid)
    assert kept is not None and kept.edits == {"added_rows": [{"title": "a\ufffdb"}]}
