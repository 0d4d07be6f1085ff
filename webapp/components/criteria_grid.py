"""The editor's criteria grid and its "Add criterion" form.

Readable at 1366x768: the grid takes the page's width, wraps long text in taller
rows (Streamlit wraps cells only above 4rem), is as tall as its rows (no inner
scrolling), and shows two read-only columns: the polarity the weight's sign gives
and what the lint found on that row. After every edit that makes whole criteria
the table restarts from them (`EditorSession.rebase`), so row numbers, polarity
and checks always describe the rows on screen, deletions included.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import streamlit as st
from rubricforge.models.core.errors import EditorInputError
from rubricforge.models.rubrics.criteria import DEFAULT_WEIGHT, CriterionData
from rubricforge.models.rubrics.editing import add_criterion, apply_editor_changes, editor_rows
from rubricforge.models.rubrics.lint import Finding, row_checks
from rubricforge.models.rubrics.orm import Category
from rubricforge.webapp.components.editing import EditorSession

EDITABLE = ["position", "title", "description", "category", "weight"]
COLUMNS = [*EDITABLE, "polarity", "check"]
COLUMN_CONFIG: dict[str, Any] = {
    "position": st.column_config.NumberColumn(
        "#", help="Type a new position to move a row (1 = top)", step=1, width=40
    ),
    "title": st.column_config.TextColumn("Title", help="2-4 words", width=150, required=True),
    "description": st.column_config.TextColumn(
        "Description",
        help="One self-contained sentence a judge can check",
        width=300,
        required=True,
    ),  # fmt: skip
    "category": st.column_config.SelectboxColumn(
        "Category", options=[c.value for c in Category], width=100, required=True
    ),
    "weight": st.column_config.NumberColumn(
        "Weight",
        help="RaR: Essential 5, Important 3-4, Optional 1-2, Pitfall -1 or -2",
        step=0.5,
        format="%g",
        width=72,
        required=True,
    ),
    "polarity": st.column_config.TextColumn(
        "Polarity",
        help="From the weight's sign: positive is good when met, negative bad when met",
        width=96,
        disabled=True,
    ),
    "check": st.column_config.TextColumn(
        "Check", help="What the lint found on this row (details below)", width=112, disabled=True
    ),
}
Linter = Callable[[Sequence[CriterionData]], list[Finding]]
CHARS_PER_LINE = 38  # of the description column (300 px or more), roughly
HEADER, LINE, PAD, MAX_LINES = 36, 20, 16, 8


def row_height(criteria: Sequence[CriterionData]) -> int:
    """Tall enough for the longest description (and title) to wrap in full."""
    longest = max((max(len(c.description), 2 * len(c.title)) for c in criteria), default=0)
    lines = min(MAX_LINES, max(1, math.ceil(longest / CHARS_PER_LINE)))
    return 35 if lines == 1 else max(70, LINE * lines + PAD)  # Streamlit wraps above 64 px


def grid_frame(criteria: Sequence[CriterionData], findings: Sequence[Finding]) -> pd.DataFrame:
    """The grid's rows: the editable columns, the polarity and the row's checks."""
    checks = row_checks(findings, len(criteria))
    rows = [
        row | {"polarity": c.polarity, "check": check}
        for row, c, check in zip(editor_rows(criteria), criteria, checks, strict=True)
    ]
    return pd.DataFrame(rows, columns=COLUMNS).astype(
        {"position": "Int64", "title": "str", "description": "str", "category": "str",
         "weight": "float64", "polarity": "str", "check": "str"}
    )  # fmt: skip


def _has_edits(edits: dict[str, Any]) -> bool:
    return any(edits.get(k) for k in ("edited_rows", "added_rows", "deleted_rows"))


def criteria_table(
    ed: EditorSession, lint: Linter
) -> tuple[list[CriterionData] | None, EditorInputError | None]:
    """The editable grid; returns the criteria as edited, or the rows that are bad.
    `lint` maps criteria to findings (the grid marks each row's)."""
    edits = ed.edits()
    if _has_edits(edits):
        try:
            criteria = apply_editor_changes(ed.base, edits)
        except EditorInputError as exc:  # a row half typed: keep the table as it is
            _grid(ed, lint)
            return None, exc
        ed.rebase(criteria)
    _grid(ed, lint)
    return list(ed.base), None


def _grid(ed: EditorSession, lint: Linter) -> None:
    base = ed.base
    height = row_height(base)
    st.data_editor(
        grid_frame(base, lint(base)),
        key=ed.table_key,
        num_rows="dynamic",
        hide_index=True,
        column_config=COLUMN_CONFIG,
        column_order=COLUMNS,
        row_height=height,
        height=HEADER + height * (len(base) + 1) + 4,
    )


def _add_key(ed: EditorSession, name: str) -> str:
    return f"editor:{ed.prompt_id}:add:{name}"


def _add(ed: EditorSession) -> None:
    """The form's submit: one more criterion at the end of the table (or a message)."""
    ss = st.session_state
    category = Category(ss[_add_key(ed, "category")])
    try:
        current = apply_editor_changes(ed.base, ed.edits())
        criteria = add_criterion(
            current,
            ss[_add_key(ed, "title")],
            ss[_add_key(ed, "description")],
            category,
            ss[_add_key(ed, "weight")],
        )
    except EditorInputError as exc:
        ss[_add_key(ed, "problem")] = str(exc)
        return
    ed.rebase(criteria)
    ss[_add_key(ed, "added")] = len(criteria)
    for name in ("title", "description", "weight"):
        ss.pop(_add_key(ed, name), None)


def add_criterion_form(ed: EditorSession) -> None:
    """Title, description, category and (optional) weight in one go; the weight
    defaults to the category's RaR value."""
    ss = st.session_state
    defaults = ", ".join(f"{c.value} {w:g}" for c, w in DEFAULT_WEIGHT.items())
    with st.form(_add_key(ed, "form"), border=True):
        st.markdown("**Add criterion**")
        c1, c2 = st.columns([2, 3])
        c1.text_input("New criterion title", key=_add_key(ed, "title"), max_chars=200)
        c2.text_area(
            "New criterion description", key=_add_key(ed, "description"), height=68,
            max_chars=2000,
        )  # fmt: skip
        c3, c4, c5 = st.columns([2, 2, 1], vertical_alignment="bottom")
        c3.selectbox("New criterion category", [c.value for c in Category],
                     key=_add_key(ed, "category"))  # fmt: skip
        c4.number_input(
            "New criterion weight", value=None, step=0.5, key=_add_key(ed, "weight"),
            placeholder="the category's default", help=f"Left empty: {defaults}",
        )  # fmt: skip
        c5.form_submit_button("Add criterion", on_click=_add, args=(ed,))
    if (problem := ss.pop(_add_key(ed, "problem"), None)) is not None:
        st.error(problem)
    if (added := ss.pop(_add_key(ed, "added"), None)) is not None:
        st.success(f"Added criterion {added}. Save a version to keep it.")
