"""Rubric renderers shared by the editor and the history page: criteria, lint
findings and diffs, all as tables (user text is data there, never markup)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import streamlit as st
from rubricforge.models.rubrics.criteria import CriterionData
from rubricforge.models.rubrics.diff import RubricDiff
from rubricforge.models.rubrics.lint import Finding
from rubricforge.models.rubrics.queries import VersionInfo

FINDING_CHARS_PER_LINE = 90  # of the findings table at 1366 px wide, roughly
WIDE = {"Description": st.column_config.TextColumn(width="large")}


def criteria_frame(criteria: Sequence[CriterionData]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "#": i,
                "Title": c.title,
                "Description": c.description,
                "Category": c.category.value,
                "Weight": c.weight,
            }
            for i, c in enumerate(criteria, start=1)
        ],
        columns=["#", "Title", "Description", "Category", "Weight"],
    )


def show_criteria(criteria: Sequence[CriterionData]) -> None:
    st.dataframe(criteria_frame(criteria), hide_index=True, column_config=WIDE)


def show_findings(findings: Sequence[Finding]) -> None:
    """The lint panel: a one-line verdict, then each finding with its row."""
    errors = sum(1 for f in findings if f.is_error)
    warnings = len(findings) - errors
    if not findings:
        st.success("Lint: no findings.", icon=":material/check_circle:")
        return
    verdict = f"Lint: {errors} error(s), {warnings} warning(s)."
    if errors:
        st.error(f"{verdict} Approval asks for confirmation while errors remain.")
    else:
        st.warning(f"{verdict} Warnings never block saving or approval.")
    table = pd.DataFrame(
        [
            {
                "Severity": f.severity.value,
                "Row": "rubric" if f.index is None else str(f.index + 1),
                "Finding": f.message,
            }
            for f in findings
        ]
    )
    # Wrapped in full (Streamlit wraps cells in rows over 4rem), tall enough for
    # the longest finding, and no inner scrolling: the row numbers are the grid's.
    lines = max(2, math.ceil(max(len(f.message) for f in findings) / FINDING_CHARS_PER_LINE))
    height = 20 * lines + 16
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "Severity": st.column_config.TextColumn(width=70),
            "Row": st.column_config.TextColumn(width=60),
            "Finding": st.column_config.TextColumn(),
        },
        row_height=height,
        height=36 + height * len(findings) + 4,
    )


def _short(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def diff_frame(diff: RubricDiff) -> pd.DataFrame:
    """One row per change: added and removed criteria, and per changed field its
    value before and after; a criterion that only moved says from where to where."""
    rows: list[tuple[str, str, str, str, str]] = []
    for c in diff.removed:
        rows.append(("removed", c.title, "", c.description, ""))
    for c in diff.added:
        rows.append(("added", c.title, "", "", c.description))
    for ch in diff.changed:
        for f in ch.fields:
            rows.append(("changed", ch.after.title, f.field, _short(f.before), _short(f.after)))
        if ch.moved:
            before, after = str(ch.before_index + 1), str(ch.after_index + 1)
            rows.append(("moved", ch.after.title, "position", before, after))
    return pd.DataFrame(rows, columns=["Change", "Criterion", "Field", "Before", "After"])


def show_diff(diff: RubricDiff, before: str, after: str) -> None:
    st.markdown(f"**{before} → {after}:** {diff.summary()}")
    if not diff.is_empty:
        wide = {
            "Before": st.column_config.TextColumn(width="large"),
            "After": st.column_config.TextColumn(width="large"),
        }
        st.dataframe(diff_frame(diff), hide_index=True, column_config=wide)


def version_label(v: VersionInfo) -> str:
    marks = [" · approved" if v.is_approved else "", " · current" if v.is_head else ""]
    by = v.created_by or "import"
    return f"v{v.number} ({v.source.value}, {by}){''.join(marks)}"
