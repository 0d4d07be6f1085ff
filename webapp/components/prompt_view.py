"""A prompt with its rubric, read-only: the Prompts page's detail view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st
from rubricforge.models.rubrics.browse import NO_RUBRIC
from rubricforge.models.rubrics.criteria import flag_text, is_flagged
from rubricforge.models.rubrics.detail import RubricDetail
from rubricforge.webapp.components.text import escape_md

FLAG_HELP = (
    "Their wording and sign may disagree: a pitfall worded as what a good answer does "
    "('Avoids X') with a negative weight penalises the right answer. Open the editor: the "
    "lint says how to reword each one."
)
FLAGGED_ROW = "background-color: rgba(255, 170, 0, 0.3)"


KEPT = "prompts:filters"  # the Prompts page's filters, kept across pages
ALL = "All"


def kept_filter(name: str, options: list[Any] | None = None, default: Any = None) -> str:
    """The key of the Prompts filter widget `name`, seeded from the value kept
    across pages (Streamlit drops a widget's state once a page does not draw it)."""
    key = f"prompts:{name}"
    saved = st.session_state.setdefault(KEPT, {})
    fits = name in saved and (options is None or saved[name] in options)
    if key not in st.session_state and fits:
        st.session_state[key] = saved[name]
    if key not in st.session_state and default is not None:
        st.session_state[key] = default
    return key


def keep_filters(names: Sequence[str]) -> None:
    st.session_state[KEPT] = {n: st.session_state.get(f"prompts:{n}") for n in names}


def listing_filters(username: str) -> dict[str, Any]:
    """The kept Prompts filters as `list_prompts` keywords (the editor's next and
    previous follow the same listing)."""
    saved = st.session_state.get(KEPT, {})

    def pick(name: str) -> Any:
        value = saved.get(name)
        return None if value in (None, ALL) else value

    return {
        "dataset": pick("dataset"),
        "status": pick("status"),
        "assignee": pick("assignee"),
        "tag": pick("tag"),
        "text": saved.get("text") or None,
        "awaiting_review_by": username if saved.get("review") else None,
    }


def chosen_prompt() -> int | None:
    """The prompt in the URL (?prompt=ID, shareable), else the last one opened."""
    raw = st.query_params.get("prompt") or st.session_state.get("prompt_id")
    if raw is None:
        return None
    prompt_id = parse_prompt_id(raw)
    if prompt_id is None:
        shown = preview(str(raw), 40)
        st.error(f"'{escape_md(shown)}' is not a prompt id; open a prompt from the Prompts page.")
        st.session_state.pop("prompt_id", None)
        st.stop()
    st.session_state["prompt_id"] = prompt_id
    st.query_params["prompt"] = str(prompt_id)
    return prompt_id


MAX_ID = 2**31 - 1  # ids are PostgreSQL integers: a larger one matches no row


def parse_prompt_id(raw: object) -> int | None:
    """A prompt id from the URL or the session, or None when it cannot be one
    (not a whole number, not positive, past the column's range)."""
    text = str(raw).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None


def status_label(value: str | None) -> str:
    if value in (None, NO_RUBRIC):
        return "No rubric"
    return value.replace("_", " ").capitalize()


def preview(text: str, n: int = 140) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def table(rows: Sequence[object]) -> pd.DataFrame:
    """Dataclass rows as a table with readable headers ("created_at" -> "Created at")."""
    return pd.DataFrame(rows).rename(columns=lambda c: c.replace("_", " ").capitalize())


def show_detail(d: RubricDetail, version_key: str) -> None:
    st.subheader(escape_md(f"{d.dataset} / {d.external_id}"), anchor=False)
    approved = f" · approved version: {d.approved_version}" if d.approved_version else ""
    st.caption(f"Rubric: {status_label(d.status)}{approved}")
    st.markdown("**Question**")
    st.text(d.question)
    st.markdown("**Reference answer**")
    st.text(d.reference_answer or "(none)")
    if d.status is None:
        st.info("This prompt has no rubric yet.")
        return
    flagged = sum(1 for c in d.criteria if is_flagged(c.flags))
    if flagged:
        st.warning(f"{flagged} flagged {'criterion' if flagged == 1 else 'criteria'}. {FLAG_HELP}")
    criteria = pd.DataFrame(
        [
            {
                "#": c.position + 1,
                "Title": c.title,
                "Description": c.description,
                "Category": c.category,
                "Weight": c.weight,
                "Flags": "; ".join(flag_text(f) for f in c.flags),
            }
            for c in d.criteria
        ]
    )
    if len(d.versions) > 1:  # its value was read from session state before the query
        numbers = [v.number for v in d.versions]
        st.selectbox(
            "Version", numbers, index=numbers.index(d.shown_version or numbers[-1]), key=version_key
        )
    st.markdown(f"**Criteria of version {d.shown_version}**")
    styled = criteria.style.apply(
        lambda row: [FLAGGED_ROW if row["Flags"] else ""] * len(row), axis=1
    ).format({"Weight": "{:g}"})
    wide = {
        "Description": st.column_config.TextColumn(width="large"),
        "Flags": st.column_config.TextColumn(width="medium"),
    }
    st.dataframe(styled, hide_index=True, column_config=wide)
    with st.expander(f"History: {len(d.versions)} version(s), {len(d.reviews)} review(s)"):
        st.dataframe(table(d.versions), hide_index=True)
        if d.reviews:
            st.dataframe(table(d.reviews), hide_index=True)
