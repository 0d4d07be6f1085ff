"""Version history: every version of a rubric, a readable diff between any two,
"restore this version" (a new version equal to an old one, for editors), and
the review log."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from rubricforge.models.accounts.permissions import Action, can
from rubricforge.models.core.errors import RubricforgeError
from rubricforge.models.rubrics.authoring import (
    diff_versions,
    list_reviews,
    list_versions,
    load_editor_state,
    restore_version,
)
from rubricforge.webapp.auth import page_user
from rubricforge.webapp.components.checks import flips_panel
from rubricforge.webapp.components.prompt_view import chosen_prompt, status_label
from rubricforge.webapp.components.rubric import show_diff, version_label
from rubricforge.webapp.components.text import escape_md, flash, show_error, show_flash
from rubricforge.webapp.db import read_session, write_session

TIME = "%Y-%m-%d %H:%M"

st.title("Version history")
user = page_user()
show_flash()
prompt_id = chosen_prompt()
if prompt_id is None:
    st.info("Choose a prompt on the Prompts page, then press “Version history”.")
    st.page_link("views/prompts.py", label="Go to Prompts", icon=":material/list_alt:")
    st.stop()

with read_session() as session:
    state = load_editor_state(session, prompt_id)
    if state.rubric_id is not None:
        versions = list_versions(session, state.rubric_id)  # newest first
        reviews = list_reviews(session, state.rubric_id)
st.subheader(escape_md(f"{state.dataset} / {state.external_id}"), anchor=False)
st.page_link("views/editor.py", label="Open in the editor", icon=":material/edit_note:",
             query_params={"prompt": str(prompt_id)})  # fmt: skip
if state.rubric_id is None:
    st.info("This prompt has no rubric yet, so there is no history.")
    st.stop()
st.caption(f"Rubric: {status_label(state.status.value if state.status else None)}")

st.markdown("**Versions**")
st.dataframe(
    pd.DataFrame(
        [
            {
                "Version": v.number,
                "Source": v.source.value,
                "Author": v.created_by or "import",
                "Model": v.llm_model or "",
                "Note": v.note,
                "Created": v.created_at.strftime(TIME),
                "Criteria": len(v.criteria),
                "Approved": "✓" if v.is_approved else "",
                "Current": "✓" if v.is_head else "",
            }
            for v in versions
        ]
    ),
    hide_index=True,
    column_config={"Note": st.column_config.TextColumn(width="large")},
)

st.markdown("**Compare two versions**")
if len(versions) < 2:
    st.caption("Only one version so far: save an edit to compare.")
else:
    by_number = {v.number: v for v in versions}
    numbers = list(by_number)
    c1, c2 = st.columns(2)
    older = c1.selectbox("From version", numbers, index=1,
                         format_func=lambda n: version_label(by_number[n]))  # fmt: skip
    newer = c2.selectbox("To version", numbers, index=0,
                         format_func=lambda n: version_label(by_number[n]))  # fmt: skip
    with read_session() as session:
        diff = diff_versions(session, by_number[older].id, by_number[newer].id)
    show_diff(diff, f"version {older}", f"version {newer}")
    flips_panel(user, by_number[older].id, by_number[newer].id)

older_versions = [v for v in versions if not v.is_head]
if can(user, Action.edit_rubric) and older_versions:
    with st.expander("Restore a version", icon=":material/history:"):
        restorable = {v.number: v for v in older_versions}
        number = st.selectbox("Version to restore", list(restorable),
                              format_func=lambda n: version_label(restorable[n]))  # fmt: skip
        note = st.text_input("Why (optional)", max_chars=500, key="history:restore-note")
        st.caption("Adds a new version equal to it; every version stays in the history.")
        if st.button("Restore this version", icon=":material/restore:"):
            try:
                with write_session() as session:
                    info = restore_version(session, user, state.rubric_id, number,
                                           expected_lock_version=state.lock_version or 0,
                                           note=note)  # fmt: skip
            except RubricforgeError as exc:
                show_error(exc)
            else:
                flash(f"Restored version {number} as version {info.number}.")
                st.rerun()

st.markdown("**Review log**")
if not reviews:
    st.caption("No review steps yet.")
else:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "When": r.created_at.strftime(TIME),
                    "Action": r.action.value,
                    "Version": r.version_number,
                    "By": r.user or "",
                    "Comment": r.comment,
                }
                for r in reviews
            ]
        ),
        hide_index=True,
        column_config={"Comment": st.column_config.TextColumn(width="large")},
    )
