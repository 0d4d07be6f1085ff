"""The rubric editor's UI state for one prompt, and its criteria table.

What the page loaded (the `EditorState`, with the `lock_version` every write must
carry) stays in `st.session_state` until the user reloads or saves: re-reading it
on every rerun would quietly move the lock forward and let a save overwrite
someone else's. The table's edits live under the data editor's key; a new table
key (a new "generation") starts a fresh table from `base`. A refused save never
changes the key, so the expert's edits stay on screen.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import streamlit as st
from rubricforge.models.accounts.permissions import Action, UserInfo, can
from rubricforge.models.core.errors import EditorInputError, InvalidInputError
from rubricforge.models.rubrics.authoring import EditorState, load_editor_state
from rubricforge.models.rubrics.criteria import CriterionData
from rubricforge.models.rubrics.drafting import Draft
from rubricforge.models.rubrics.editing import apply_editor_changes
from rubricforge.models.rubrics.orm import VersionSource
from rubricforge.models.rubrics.unsaved import (
    discard_unsaved_edits,
    list_unsaved_edits,
    load_unsaved_edits,
    save_unsaved_edits,
)
from rubricforge.webapp.db import read_session, write_session

DRAFTS = "editor:unsaved"  # {prompt id: UnsavedTable}, every prompt with unsaved table edits


@dataclass(frozen=True)
class UnsavedTable:
    """A prompt's unsaved table: the rows it started from and the user's edits."""

    label: str  # "dataset / uid", for the navigation
    base: tuple[CriterionData, ...]
    edits: dict[str, Any]


def _drafts() -> dict[int, UnsavedTable]:
    return st.session_state.setdefault(DRAFTS, {})  # type: ignore[no-any-return]


STORED = "editor:stored"  # (user id, {prompt id: label}): edits kept on the server


def _keeps(user: UserInfo | None) -> bool:
    """Whether this user's unsaved edits are kept on the server (writers only)."""
    return user is not None and user.id is not None and can(user, Action.edit_rubric)


def _stored(user: UserInfo | None = None) -> dict[int, str]:
    """The prompts whose edits the server keeps for this user, read once a session."""
    cached = st.session_state.get(STORED)
    if _keeps(user) and (cached is None or cached[0] != user.id):  # type: ignore[union-attr]
        with read_session() as session:
            cached = (user.id, list_unsaved_edits(session, user))  # type: ignore[union-attr,arg-type]
        st.session_state[STORED] = cached
    return cached[1] if cached else {}


def unsaved_prompts(user: UserInfo | None = None) -> dict[int, str]:
    """Prompt id -> "dataset / uid" of every prompt whose editor holds unsaved edits:
    in this session, or kept on the server from an earlier one (`user` given)."""
    session = {pid: d.label for pid, d in st.session_state.get(DRAFTS, {}).items()}
    return {**_stored(user), **session}


def fetch(prompt_id: int) -> EditorState:
    with read_session() as session:
        return load_editor_state(session, prompt_id)


class EditorSession:
    """Keys and transitions of one prompt's editor state in st.session_state."""

    def __init__(self, prompt_id: int, actor: UserInfo | None = None):
        self.prompt_id = prompt_id
        self.actor = actor if _keeps(actor) else None  # whose edits the server keeps
        if self._k("state") not in st.session_state:
            self.load(fetch(prompt_id))

    def _k(self, name: str) -> str:
        return f"editor:{self.prompt_id}:{name}"

    def load(
        self,
        state: EditorState,
        base: Sequence[CriterionData] | None = None,
        *,
        keep_table: bool = False,
        source: VersionSource = VersionSource.human,
    ) -> None:
        """Adopt `state` (and its lock) as what the next write builds on. The table
        restarts from `base` (default: the state's criteria) unless `keep_table`."""
        ss = st.session_state
        ss[self._k("state")] = state
        ss.pop(self._k("stale"), None)
        if not keep_table:
            ss[self._k("base")] = tuple(state.criteria if base is None else base)
            ss[self._k("gen")] = ss.get(self._k("gen"), 0) + 1
            ss[self._k("notes")] = ss.get(self._k("notes"), 0) + 1
            ss[self._k("source")] = source
            _drafts().pop(self.prompt_id, None)
            ss.pop(self._k("unrestorable"), None)

    # --- unsaved edits across navigation ------------------------------------
    # Streamlit forgets a widget's state once a run does not draw it (another page),
    # and a data editor's state cannot be written back. So every run of the editor
    # copies the table's edits into a plain session key (`remember`); coming back,
    # `restore` makes them the new table's starting rows.

    def remember(self, unsaved: bool, label: str) -> None:
        """Keep (or forget) this prompt's unsaved table for the next visit, and on
        the server for the next session (only when it changed since last kept)."""
        if unsaved:
            table = UnsavedTable(label, self.base, copy.deepcopy(self.edits()))
            _drafts()[self.prompt_id] = table
            if self.actor is not None and st.session_state.get(self._k("kept")) != (
                table.base,
                table.edits,
            ):
                self._keep(table)
        else:
            _drafts().pop(self.prompt_id, None)
            self.forget_kept()

    def _keep(self, table: UnsavedTable) -> None:
        assert self.actor is not None
        try:
            with write_session() as session:
                save_unsaved_edits(session, self.actor, self.prompt_id, table.base, table.edits,
                                   lock_version=self.state.lock_version,
                                   head_version_id=self.state.head_version_id)  # fmt: skip
        except InvalidInputError as exc:
            st.warning(str(exc), icon=":material/cloud_off:")
            return
        st.session_state[self._k("kept")] = (table.base, table.edits)

    def forget_kept(self) -> None:
        """Delete the edits the server keeps for this prompt (saved or discarded)."""
        stored = _stored()
        if self.actor is None or (
            self._k("kept") not in st.session_state and self.prompt_id not in stored
        ):
            return
        with write_session() as session:
            discard_unsaved_edits(session, self.actor, self.prompt_id)
        st.session_state.pop(self._k("kept"), None)
        stored.pop(self.prompt_id, None)

    def _from_server(self) -> UnsavedTable | None:
        """The edits kept on the server from an earlier session (looked for once a
        session). If the rubric got a new version since, the edits come back on
        the version they were made on and the stale-edit flow offers the merge."""
        ss = st.session_state
        if self.actor is None or ss.get(self._k("looked")):
            return None
        ss[self._k("looked")] = True
        with read_session() as session:
            kept = load_unsaved_edits(session, self.actor, self.prompt_id)
        if kept is None:
            return None
        ss[self._k("kept")] = (kept.base, kept.edits)
        ss[self._k("restored_at")] = kept.updated_at
        latest = self.state
        if kept.head_version_id != latest.head_version_id:
            made_on = replace(latest, lock_version=kept.lock_version or 0,
                              head_version_id=kept.head_version_id)  # fmt: skip
            self.load(made_on, keep_table=True)
            ss[self._k("stale")] = latest
        return UnsavedTable(kept.label, kept.base, kept.edits)

    def restored_at(self) -> datetime | None:
        """When the edits just restored from the server were kept (once)."""
        return st.session_state.pop(self._k("restored_at"), None)  # type: ignore[no-any-return]

    def restore(self) -> None:
        """Put back the edits the user left unsaved, if the table lost them."""
        if self.table_key in st.session_state:
            return
        kept = _drafts().get(self.prompt_id) or self._from_server()
        if kept is None:
            return
        ss = st.session_state
        try:
            criteria = apply_editor_changes(kept.base, kept.edits)
        except EditorInputError:
            # Rows that cannot become criteria cannot start a table: they are shown
            # to the user (unrestorable) until dismissed, never dropped silently.
            ss[self._k("unrestorable")] = kept.edits
            _drafts().pop(self.prompt_id, None)
            return
        ss[self._k("base")] = tuple(criteria)
        ss[self._k("gen")] = ss[self._k("gen")] + 1

    @property
    def unrestorable(self) -> dict[str, Any] | None:
        return st.session_state.get(self._k("unrestorable"))

    def dismiss_unrestorable(self) -> None:
        st.session_state.pop(self._k("unrestorable"), None)

    def rebase(self, criteria: Sequence[CriterionData]) -> None:
        """Make `criteria` (the table as edited) the rows a new table starts from, so
        the table's numbering, polarity and checks follow every edit and delete."""
        ss = st.session_state
        ss.pop(self.table_key, None)
        _drafts().pop(self.prompt_id, None)  # else `restore` would bring back the old rows
        ss[self._k("base")] = tuple(criteria)
        ss[self._k("gen")] = ss[self._k("gen")] + 1

    def discard(self) -> None:
        """Drop the unsaved edits: the table restarts from the loaded version."""
        self.load(self.state)

    def reload(self) -> None:
        self.load(fetch(self.prompt_id))

    def reload_state(self) -> None:
        """Re-read the rubric after a write that left the criteria alone (a review
        step), keeping the table and any unsaved edits in it."""
        self.load(fetch(self.prompt_id), keep_table=True)

    @property
    def state(self) -> EditorState:
        return st.session_state[self._k("state")]  # type: ignore[no-any-return]

    @property
    def base(self) -> tuple[CriterionData, ...]:
        return st.session_state[self._k("base")]  # type: ignore[no-any-return]

    @property
    def source(self) -> VersionSource:
        """How a save from this table is recorded: merge once a draft or someone
        else's version was combined with the expert's edits."""
        return st.session_state[self._k("source")]  # type: ignore[no-any-return]

    @property
    def note_key(self) -> str:
        # Per loaded version, not per table: a save or discard starts an empty note
        # (the browser keeps a widget's value while its key stays the same), while
        # the table's own restarts after each edit (`rebase`) keep what was typed.
        return self._k(f"note:{st.session_state[self._k('notes')]}")

    @property
    def table_key(self) -> str:
        return self._k(f"table:{st.session_state[self._k('gen')]}")

    @property
    def stale(self) -> EditorState | None:
        """The latest saved state, while a write of ours was refused as stale."""
        return st.session_state.get(self._k("stale"))

    def mark_stale(self) -> None:
        st.session_state[self._k("stale")] = fetch(self.prompt_id)

    @property
    def draft(self) -> Draft | None:
        return st.session_state.get(self._k("draft"))

    def set_draft(self, draft: Draft | None) -> None:
        st.session_state[self._k("draft")] = draft

    def edits(self) -> dict[str, Any]:
        return st.session_state.get(self.table_key) or {}
