"""The editor's review-workflow buttons: only those the rubric's status and the
user's role allow; the services check both again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st
from rubricforge.models.accounts.orm import Role
from rubricforge.models.accounts.permissions import Action, UserInfo, can
from rubricforge.models.core.errors import RubricforgeError, StaleEditError
from rubricforge.models.rubrics.authoring import (
    approve,
    get_version,
    reject,
    reopen,
    retire,
    submit_for_review,
)
from rubricforge.models.rubrics.lint import lint
from rubricforge.models.rubrics.orm import RubricStatus
from rubricforge.webapp.components.editing import EditorSession
from rubricforge.webapp.components.text import flash, show_error
from rubricforge.webapp.db import read_session, write_session

S = RubricStatus
Transition = Callable[..., Any]


def _run(user: UserInfo, ed: EditorSession, fn: Transition, done: str, **kw: Any) -> None:
    state = ed.state
    try:
        with write_session() as session:
            fn(session, user, state.rubric_id, expected_lock_version=state.lock_version, **kw)
    except StaleEditError as exc:
        ed.mark_stale()
        show_error(exc)
        return
    except RubricforgeError as exc:
        show_error(exc)
        return
    ed.reload_state()  # the table keeps any unsaved edits
    flash(f"{done} (version {state.head_version_number}).")
    st.rerun()


def workflow_panel(user: UserInfo, ed: EditorSession, unsaved: bool) -> None:
    state = ed.state
    status = state.status
    st.markdown("**Review**")
    if unsaved:
        st.caption(
            f"These act on the saved version {state.head_version_number}, "
            "not on your unsaved edits."
        )
    key = f"workflow:{state.prompt_id}"
    # Keyed by the lock version: after any step the comment box starts empty.
    comment = st.text_input(
        "Review comment",
        key=f"{key}:comment:{state.lock_version}",
        placeholder="Required to reject; optional otherwise",
    )
    actions: list[tuple[str, Transition, str, dict[str, Any]]] = []
    if status is S.draft and can(user, Action.submit_rubric):
        actions.append(("Submit for review", submit_for_review, "Submitted for review", {}))
    if status is S.in_review and can(user, Action.review_rubric):
        with read_session() as session:
            author = get_version(session, state.head_version_id or 0).created_by
        if author == user.username and user.role is not Role.admin:
            st.caption(
                f"You wrote version {state.head_version_number}, so another expert reviews it."
            )
        else:
            errors = [f for f in lint(state.criteria) if f.is_error]
            confirm = bool(errors) and st.checkbox(
                f"Approve despite {len(errors)} lint error(s)", key=f"{key}:confirm"
            )
            actions.append(("Approve", approve, "Approved", {"confirm_errors": confirm}))
            actions.append(("Reject", reject, "Rejected", {}))
    if status in (S.in_review, S.approved, S.rejected, S.retired) and can(user, Action.edit_rubric):
        actions.append(("Reopen as draft", reopen, "Reopened as draft", {}))
    if status is not S.retired and can(user, Action.retire_rubric):
        actions.append(("Retire", retire, "Retired", {}))
    if not actions:
        shown = status.value if status else "-"
        st.caption(f"No review action is open to you while the rubric is {shown}.")
        return
    clicked = None
    for col, action in zip(st.columns(len(actions)), actions, strict=True):
        if col.button(action[0], key=f"{key}:{action[0]}"):
            clicked = action
    if clicked is not None:  # run outside the columns, so a message gets the full width
        _, fn, done, kw = clicked
        _run(user, ed, fn, done, comment=comment, **kw)
