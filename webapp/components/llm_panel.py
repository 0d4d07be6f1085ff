"""LLM drafting in the editor: a first draft for a prompt without a rubric, and a
redraft that leaves the expert's version alone until they choose what to take."""

from __future__ import annotations

import streamlit as st
from rubricforge.models.accounts.permissions import Action, UserInfo, can
from rubricforge.models.agreement.revision import save_version_resolving
from rubricforge.models.core.errors import RubricforgeError, StaleEditError
from rubricforge.models.llm.endpoints import endpoint_choices, resolve_endpoint
from rubricforge.models.rubrics.authoring import create_rubric
from rubricforge.models.rubrics.criteria import CriterionData
from rubricforge.models.rubrics.diff import diff_criteria
from rubricforge.models.rubrics.drafting import Draft, Drafter
from rubricforge.models.rubrics.orm import VersionSource
from rubricforge.webapp.components.editing import EditorSession
from rubricforge.webapp.components.rubric import show_diff
from rubricforge.webapp.components.text import escape_md, flash, show_error
from rubricforge.webapp.db import read_session, write_session


def _draft(ed: EditorSession, choice: str) -> Draft | None:
    """Ask the endpoint for a draft; on failure say why and return None (nothing saved)."""
    with read_session() as session:
        try:
            config = resolve_endpoint(session, choice)
        except RubricforgeError as exc:
            show_error(exc)
            return None
    state = ed.state
    try:
        with st.spinner(escape_md(f"Drafting with {config.describe()} …")):
            return Drafter(config).draft(state.question, state.reference_answer)
    except RubricforgeError as exc:
        show_error(exc)
        return None


def _save_draft(user: UserInfo, ed: EditorSession, draft: Draft, verb: str) -> None:
    state = ed.state
    note = f"LLM {verb} by {draft.model}"
    provenance = {"llm_model": draft.model, "template_hash": draft.template_hash}
    try:
        with write_session() as session:
            if state.rubric_id is None:
                info = create_rubric(session, user, state.prompt_id, draft.criteria, note=note,
                                     source=VersionSource.llm, **provenance)  # fmt: skip
            else:
                info, _ = save_version_resolving(
                    session, user, state.rubric_id, draft.criteria, note=note,
                    expected_lock_version=state.lock_version or 0,
                    source=VersionSource.llm, **provenance)  # fmt: skip
    except StaleEditError as exc:
        ed.mark_stale()
        show_error(exc)
        return
    except RubricforgeError as exc:
        show_error(exc)
        return
    ed.set_draft(None)
    ed.reload()
    flash(f"Saved the {verb} as version {info.number} ({len(draft.criteria)} criteria).")
    st.rerun()


def describe(c: CriterionData) -> str:
    """One criterion in full, as markdown with the user text escaped."""
    head = f"{c.category.value} · {c.weight:g} · {c.polarity}"
    return f"**{escape_md(c.title)}** ({head})  \n{escape_md(c.description)}"


def side_by_side(ed: EditorSession, draft: Draft, table: list[CriterionData] | None) -> None:
    """The table as it stands beside the draft, every criterion in full; each of the
    draft's can be added to the table alone (unsaved edits kept)."""
    taken_key = f"editor:{ed.prompt_id}:draft_taken"
    taken: set[str] = st.session_state.setdefault(taken_key, set())
    mine, theirs = st.columns(2, gap="medium")
    with mine.container(border=True):
        st.markdown("**Your table**")
        for i, c in enumerate(table if table is not None else ed.base, start=1):
            st.markdown(f"{i}. {describe(c)}")
    with theirs.container(border=True):
        st.markdown("**The draft**")
        for i, c in enumerate(draft.criteria, start=1):
            st.markdown(f"{i}. {describe(c)}")
            done = c.key in taken
            if st.button(
                "Added" if done else f"Add draft criterion {i} to the table",
                key=f"editor:{ed.prompt_id}:take:{c.key}",
                disabled=done or table is None,
                icon=":material/add:",
            ):
                ed.load(ed.state, [*(table or []), c], source=VersionSource.merge)
                taken.add(c.key)
                st.rerun()


def _redraft_panel(
    user: UserInfo, ed: EditorSession, draft: Draft, table: list[CriterionData] | None
) -> None:
    state = ed.state
    st.info(
        f"New draft: {len(draft.criteria)} criteria. Version {state.head_version_number} stays "
        "as it is until you choose.",
        icon=":material/auto_awesome:",
    )
    side_by_side(ed, draft, table)
    show_diff(
        diff_criteria(state.criteria, draft.criteria),
        f"version {state.head_version_number}",
        "new draft",
    )
    c1, c2, c3 = st.columns(3)
    if c1.button("Take the draft as a new version"):
        _save_draft(user, ed, draft, "redraft")
    if c2.button(
        "Add the draft's criteria to the table",  # accept all
        disabled=table is None,
        help="Appends them below your rows (unsaved edits kept) to merge by hand: delete what "
        "you do not want, then save. The lint flags near-duplicates.",
    ):
        ed.load(state, [*(table or []), *draft.criteria], source=VersionSource.merge)
        ed.set_draft(None)
        st.rerun()
    if c3.button("Discard the draft"):
        ed.set_draft(None)
        st.rerun()


def llm_panel(user: UserInfo, ed: EditorSession, table: list[CriterionData] | None) -> None:
    if not can(user, Action.draft_rubric):
        return
    state = ed.state
    st.markdown("**LLM draft**")
    with read_session() as session:
        choices = endpoint_choices(session)
    if not choices:
        st.caption(
            "No LLM endpoint is configured: an admin adds one on the Admin page "
            "(or set RUBRICFORGE_LLM_MODEL for the server)."
        )
        return
    choice = st.selectbox("LLM endpoint", choices, key=f"llm:{state.prompt_id}:endpoint")
    if state.rubric_id is None:
        if st.button(
            "Draft with LLM",
            icon=":material/auto_awesome:",
            disabled=bool(table),
            help="Drafts 7-20 criteria from the question and the reference answer and saves "
            "them as version 1. (Clear your own rows first.)",
        ):
            draft = _draft(ed, choice)
            if draft is not None:
                _save_draft(user, ed, draft, "draft")
        return
    if st.button("Redraft with LLM", icon=":material/auto_awesome:"):
        ed.set_draft(_draft(ed, choice))
        st.session_state.pop(f"editor:{ed.prompt_id}:draft_taken", None)
    if ed.draft is not None:
        _redraft_panel(user, ed, ed.draft, table)
