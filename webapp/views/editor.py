"""Rubric editor: the question and reference answer beside the criteria, a live
lint panel, save with a note, the review workflow, and LLM drafts."""

from __future__ import annotations

from datetime import UTC

import streamlit as st
from rubricforge.models.accounts.permissions import Action, UserInfo, can
from rubricforge.models.agreement.revision import open_requests, save_version_resolving
from rubricforge.models.core.errors import RubricforgeError, StaleEditError
from rubricforge.models.rubrics.authoring import EditorState, create_rubric
from rubricforge.models.rubrics.browse import adjacent_prompts
from rubricforge.models.rubrics.criteria import CriterionData
from rubricforge.models.rubrics.diff import diff_criteria
from rubricforge.models.rubrics.lint import lint
from rubricforge.models.rubrics.orm import RubricStatus, VersionSource
from rubricforge.webapp.auth import page_user
from rubricforge.webapp.components.checks import rubric_check_panel
from rubricforge.webapp.components.criteria_grid import add_criterion_form, criteria_table
from rubricforge.webapp.components.editing import EditorSession
from rubricforge.webapp.components.llm_panel import llm_panel
from rubricforge.webapp.components.prompt_view import (
    chosen_prompt,
    listing_filters,
    status_label,
)
from rubricforge.webapp.components.revision import show_requests
from rubricforge.webapp.components.rubric import show_criteria, show_diff, show_findings
from rubricforge.webapp.components.text import escape_md, flash, show_error, show_flash
from rubricforge.webapp.components.workflow import workflow_panel
from rubricforge.webapp.db import read_session, write_session


def save(user: UserInfo, ed: EditorSession, criteria: list[CriterionData], note: str) -> None:
    state = ed.state
    resolved: list[int] = []
    try:
        with write_session() as session:
            if state.rubric_id is None:
                info = create_rubric(session, user, state.prompt_id, criteria, note=note,
                                     source=ed.source)  # fmt: skip
            else:
                info, resolved = save_version_resolving(
                    session,
                    user,
                    state.rubric_id,
                    criteria,
                    expected_lock_version=state.lock_version or 0,
                    note=note,
                    source=ed.source,
                )
    except StaleEditError as exc:
        ed.mark_stale()  # the table keeps its key: the expert's edits stay on screen
        show_error(exc)
        return
    except RubricforgeError as exc:
        show_error(exc)
        return
    ed.forget_kept()  # the version is saved: the kept edits are done with
    ed.reload()
    closed = (
        f" It resolves revision request(s) {', '.join(map(str, resolved))}." if resolved else ""
    )
    flash(f"Saved version {info.number}.{closed}")
    st.rerun()


def conflict_panel(
    ed: EditorSession, latest: EditorState, criteria: list[CriterionData] | None
) -> None:
    st.warning(
        f"Someone else saved this rubric after you opened it (now version "
        f"{latest.head_version_number}, {status_label(latest.status)}). Your edits are still "
        "in the table and nothing of yours was saved. Compare, then keep yours on top of "
        "the latest version (and merge by hand before saving) or reload the latest.",
        icon=":material/sync_problem:",
    )
    if criteria is not None:
        show_diff(diff_criteria(latest.criteria, criteria), "latest version", "your edits")
    c1, c2 = st.columns(2)
    if c1.button("Keep my edits on top of the latest", disabled=criteria is None):
        ed.load(latest, criteria, source=VersionSource.merge)
        st.rerun()
    if c2.button("Reload the latest version (drop my edits)"):
        ed.load(latest)
        st.rerun()


def unrestorable_panel(ed: EditorSession) -> None:
    """Edits left unsaved that could not go back into the table (rows with problems):
    shown as typed, so the user can copy them, until dismissed."""
    st.warning(
        "The edits you left unsaved here had rows that cannot become criteria, so the table "
        "starts from the saved version again. What you typed is below: copy what you need.",
        icon=":material/warning:",
    )
    st.json(ed.unrestorable, expanded=True)
    if st.button("Dismiss my earlier edits"):
        ed.dismiss_unrestorable()
        st.rerun()


def step_buttons(user: UserInfo, prompt_id: int) -> None:
    """Previous and next prompt in the Prompts page's listing (its filters kept);
    unsaved edits stay with their prompt."""
    try:
        with read_session() as session:
            before, after = adjacent_prompts(session, prompt_id, **listing_filters(user.username))
    except RubricforgeError:  # a kept filter that no longer holds (a dataset gone)
        before, after = None, None
    c1, c2, _ = st.columns([1, 1, 3])
    for col, target, label, icon in (
        (c1, before, "Previous prompt", ":material/arrow_back:"),
        (c2, after, "Next prompt", ":material/arrow_forward:"),
    ):
        if col.button(label, icon=icon, disabled=target is None):
            st.session_state["prompt_id"] = target
            st.query_params["prompt"] = str(target)
            st.rerun()


st.title("Rubric editor")
user = page_user()
show_flash()
prompt_id = chosen_prompt()
if prompt_id is None:
    st.info("Choose a prompt on the Prompts page, then press “Edit rubric”.")
    st.page_link("views/prompts.py", label="Go to Prompts", icon=":material/list_alt:")
    st.stop()

ed = EditorSession(prompt_id, user)
ed.restore()  # edits left unsaved on an earlier visit (or session) come back into the table
restored_at = ed.restored_at()
if restored_at is not None:
    st.info(
        f"Restored your unsaved edits from {restored_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC. "
        "Save them as a version, or discard them.",
        icon=":material/restore:",
    )
state = ed.state
version = f"version {state.head_version_number}" if state.head_version_number else "no rubric"
st.subheader(escape_md(f"{state.dataset} / {state.external_id}"), anchor=False)
st.caption(
    f"Rubric: {status_label(state.status.value if state.status else None)} · {version}"
    f" · assignee: {state.assignee or 'nobody'}"
)
step_buttons(user, prompt_id)
left, right = st.columns(2, gap="medium")
with left.container(height=170, border=True):
    st.markdown("**Question**")
    st.text(state.question)
with right.container(height=170, border=True):
    st.markdown("**Reference answer**")
    st.text(state.reference_answer or "(none)")

with st.container():
    if not can(user, Action.edit_rubric):
        st.info(
            f"Read-only: your role ({user.role.value}) may read rubrics but not edit them. "
            "Experts and admins edit rubrics.",
            icon=":material/lock:",
        )
        if state.criteria:
            show_criteria(state.criteria)
            show_findings(lint(state.criteria))
            rubric_check_panel(user, state.dataset, prompt_id)  # researchers may run the judge
        else:
            st.caption("This prompt has no rubric yet.")
        st.page_link("views/history.py", label="Version history", icon=":material/history:",
                     query_params={"prompt": str(prompt_id)})  # fmt: skip
        st.stop()

    if state.rubric_id is not None:
        with read_session() as session:
            show_requests(open_requests(session, state.rubric_id))
    retired = state.status is RubricStatus.retired
    criteria: list[CriterionData] | None
    if retired:
        st.warning("This rubric is retired: reopen it below to edit it again.")
        show_criteria(state.criteria)
        criteria, bad = list(state.criteria), None
    else:
        if ed.unrestorable is not None:
            unrestorable_panel(ed)
        criteria, bad = criteria_table(ed, lint)
    if bad is not None:
        show_error(bad)
    elif criteria is not None:
        show_findings(lint(criteria))
    if not retired:
        add_criterion_form(ed)

    unsaved = criteria is not None and not diff_criteria(state.criteria, criteria).is_empty
    ed.remember(unsaved or bad is not None, f"{state.dataset} / {state.external_id}")
    if not retired:
        note = st.text_input(
            "Note for this version", placeholder="What changed and why", key=ed.note_key
        )
        c1, c2, _ = st.columns([1, 1, 3])
        if c1.button("Save version", type="primary", disabled=not unsaved or bad is not None):
            save(user, ed, criteria or [], note)
        if c2.button("Discard changes", disabled=not unsaved and bad is None):
            ed.discard()
            ed.forget_kept()
            flash("Your unsaved changes were discarded.")
            st.rerun()
    if ed.stale is not None:
        conflict_panel(ed, ed.stale, criteria)
    elif unsaved and state.rubric_id is not None and criteria is not None:
        with st.expander("Unsaved changes"):
            show_diff(diff_criteria(state.criteria, criteria), "saved version", "your edits")

    if state.rubric_id is not None:
        workflow_panel(user, ed, unsaved)
    llm_panel(user, ed, criteria)
    if state.rubric_id is not None:
        rubric_check_panel(user, state.dataset, prompt_id)
    st.page_link("views/history.py", label="Version history and diffs", icon=":material/history:",
                 query_params={"prompt": str(prompt_id)})  # fmt: skip
