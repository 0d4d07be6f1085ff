"""Prompts: filter and page through prompts, assign them, open one to read or edit."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from rubricforge.models.accounts.auth import list_users
from rubricforge.models.accounts.orm import Role
from rubricforge.models.accounts.permissions import Action, UserInfo, can
from rubricforge.models.core.errors import RubricforgeError
from rubricforge.models.core.limits import MAX_SEARCH
from rubricforge.models.rubrics.authoring import assign_prompts
from rubricforge.models.rubrics.browse import (
    NO_RUBRIC,
    UNASSIGNED,
    Page,
    dataset_names,
    list_prompts,
    status_counts,
    tag_names,
)
from rubricforge.models.rubrics.detail import rubric_detail
from rubricforge.models.rubrics.orm import RubricStatus
from rubricforge.webapp.auth import page_user
from rubricforge.webapp.components.prompt_view import (
    ALL,
    keep_filters,
    kept_filter,
    preview,
    show_detail,
    status_label,
)
from rubricforge.webapp.components.text import flash, show_error, show_flash
from rubricforge.webapp.db import read_session, write_session

STATUSES = [ALL, *(s.value for s in RubricStatus), NO_RUBRIC]
PAGE_SIZES = [10, 25, 50, 100]
NOBODY = "Nobody (unassign)"


def show_page(page: Page) -> int | None:
    """The table of one page and a picker of its prompts; returns the chosen prompt id."""
    first = page.offset + 1 if page.total else 0
    st.caption(f"Prompts {first}–{page.offset + len(page.items)} of {page.total}")
    rows = [
        {
            "ID": p.external_id,
            "Dataset": p.dataset,
            "Status": status_label(p.status),
            "Version": p.version,
            "Assignee": p.assignee,
            "Criteria": p.criteria,
            "Flagged": p.flagged,
            "Question": preview(p.question),
        }
        for p in page.items
    ]
    columns = ["ID", "Dataset", "Status", "Version", "Assignee", "Criteria", "Flagged", "Question"]
    picked = st.dataframe(
        pd.DataFrame(rows, columns=columns),
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key=f"prompts:table:{page.offset}",
        column_config={
            "ID": st.column_config.TextColumn(width=150),
            "Question": st.column_config.TextColumn(width="large"),
        },
    )
    chosen_rows = picked.selection.rows if picked is not None else []  # type: ignore[attr-defined]
    if chosen_rows:  # a click on a row opens that prompt in the editor
        pid = page.items[chosen_rows[0]].id
        st.session_state["prompt_id"] = pid
        st.switch_page("views/editor.py", query_params={"prompt": str(pid)})
    st.caption("Click a row to open it in the editor, or choose one below to read it here.")
    by_id = {p.id: p for p in page.items}
    return st.selectbox(
        "Open a prompt",
        list(by_id),
        index=None,
        format_func=lambda pid: f"{by_id[pid].external_id} · {preview(by_id[pid].question, 80)}",
        placeholder="Choose a prompt on this page",
    )


def assign_panel(user: UserInfo, page: Page, experts: list[str]) -> None:
    by_id = {p.id: p.external_id for p in page.items}
    with st.expander("Assign prompts to an expert"):
        picked = st.multiselect("Prompts to assign", list(by_id), format_func=by_id.__getitem__)
        whole = st.checkbox(f"All {len(by_id)} prompts on this page")
        who = st.selectbox("Assign to", [*experts, NOBODY])
        if st.button("Assign", disabled=not (picked or whole)):
            ids = list(by_id) if whole else picked
            try:
                with write_session() as session:
                    n = assign_prompts(session, user, ids, None if who == NOBODY else who)
            except RubricforgeError as exc:
                show_error(exc)
                return
            target = "nobody" if who == NOBODY else who
            flash(f"Assigned {n} prompt(s) to {target} ({len(ids) - n} already were).")
            st.rerun()


st.title("Prompts")
user = page_user()
show_flash()
with read_session() as session:
    names, tags = dataset_names(session), tag_names(session)
    experts = [
        u.username
        for u in list_users(session)
        if u.is_active and u.role in (Role.expert, Role.admin)
    ]
FILTERS = ("dataset", "status", "assignee", "tag", "text", "size", "review")
c1, c2, c3, c4, c5, c6 = st.columns([2, 2, 2, 2, 3, 1])
datasets, assignees = [ALL, *names], [ALL, UNASSIGNED, *experts]
dataset = c1.selectbox("Dataset", datasets, key=kept_filter("dataset", datasets))
status = c2.selectbox("Rubric status", STATUSES, format_func=status_label,
                      key=kept_filter("status", STATUSES))  # fmt: skip
assignee = c3.selectbox("Assignee", assignees, key=kept_filter("assignee", assignees))
tag = c4.selectbox("Tag", [ALL, *tags], key=kept_filter("tag", [ALL, *tags]))
text = c5.text_input(
    "Search",
    placeholder="Words in the question, reference answer or criteria, or a prompt ID",
    max_chars=MAX_SEARCH,
    key=kept_filter("text"),
)
size = c6.selectbox("Per page", PAGE_SIZES, key=kept_filter("size", PAGE_SIZES, default=50))
review = can(user, Action.review_rubric) and st.toggle(
    "Awaiting my review",
    key=kept_filter("review"),
    help="Rubrics in review whose current version someone else wrote, so you may review it",
)
keep_filters(FILTERS)
filters = {
    "dataset": None if dataset == ALL else dataset,
    "assignee": None if assignee == ALL else assignee,
    "tag": None if tag == ALL else tag,
    "text": text,
    "awaiting_review_by": user.username if review else None,
}


def fetch(number: int) -> Page:
    with read_session() as session:
        return list_prompts(
            session,
            status=None if status == ALL else status,
            limit=size,
            offset=(number - 1) * size,
            # The counts above are under the same filters: no second COUNT.
            total=sum(counts.values()) if status == ALL else counts[status],
            **filters,  # type: ignore[arg-type]
        )


with read_session() as session:
    counts = status_counts(session, **filters)  # type: ignore[arg-type]
for col, (value, n) in zip(st.columns(len(counts)), counts.items(), strict=True):
    col.metric(status_label(value), n)

# The page number belongs to one set of filters: changing a filter starts again at page 1.
page_key = f"page:{dataset}:{status}:{assignee}:{tag}:{text}:{size}:{review}"
number = st.session_state.get(page_key, 1)
page = fetch(number)
if number > page.pages:  # rows went away since the last run: show the last page
    st.session_state[page_key] = number = page.pages
    page = fetch(number)

st.columns([1, 5])[0].number_input("Page", min_value=1, max_value=page.pages, step=1, key=page_key)
chosen = show_page(page)
if can(user, Action.assign_prompts) and page.items:
    assign_panel(user, page, experts)
if chosen is not None:
    st.session_state["prompt_id"] = chosen
    b1, b2, _ = st.columns([1, 1, 4])
    label = "Edit rubric" if can(user, Action.edit_rubric) else "Open in editor"
    if b1.button(label, icon=":material/edit_note:"):
        st.switch_page("views/editor.py", query_params={"prompt": str(chosen)})
    if b2.button("Version history", icon=":material/history:"):
        st.switch_page("views/history.py", query_params={"prompt": str(chosen)})
    version_key = f"version:{chosen}"
    with read_session() as session:
        detail = rubric_detail(session, chosen, version=st.session_state.get(version_key))
    show_detail(detail, version_key)
