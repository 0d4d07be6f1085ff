"""The Spot-check page's pieces: the item to label (blind), the reveal after the
label is stored, the queue table and the form that draws a queue.

`show_item` takes a `LabelItem`, which has no field for a verdict, so the blind
half of the page cannot show one by accident; only `show_reveal` shows the judge,
and it takes a `LabelReveal`, which `submit_label` returns once the label is stored.
User and LLM text is shown with st.text or in tables, never as markup.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st
from rubricforge.models.accounts.permissions import UserInfo
from rubricforge.models.agreement.items import CriterionView
from rubricforge.models.agreement.orm import ItemUnit, SamplingStrategy, Stratum
from rubricforge.models.agreement.spotcheck import (
    LabelItem,
    LabelReveal,
    QueueInfo,
    create_queue,
    queue_spec,
)
from rubricforge.models.core.errors import RubricforgeError
from rubricforge.webapp.components.text import escape_md, flash, show_error
from rubricforge.webapp.db import write_session

# Keyboard shortcuts on buttons (Streamlit 1.67 has them); a build without gets plain buttons.
_SHORTCUTS = "shortcut" in inspect.signature(st.button).parameters


def button(label: str, shortcut: str | None = None, **kw: Any) -> bool:
    """st.button with a keyboard shortcut where this Streamlit supports one."""
    if shortcut and _SHORTCUTS:
        kw["shortcut"] = shortcut
    return st.button(label, **kw)


def verdict_word(met: bool | None) -> str:
    return {True: "met", False: "not met", None: "skipped"}[met]


def queues_frame(queues: Sequence[QueueInfo]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Queue": q.name,
                "Unit": q.unit.value,
                "Sampling": q.strategy.value
                + (f" by {q.stratify_by.value}" if q.stratify_by else ""),
                "Labels per item": q.labels_per_item,
                "Items": q.items,
                "Complete": q.complete,
                "Yours": q.yours,
            }
            for q in queues
        ],
        columns=["Queue", "Unit", "Sampling", "Labels per item", "Items", "Complete", "Yours"],
    )


def show_criterion(c: CriterionView) -> None:
    """A criterion's category and weight, then its text (as typed, never markup)."""
    st.markdown(f"**Criterion** · {c.category.value}, weight {c.weight:+g}")
    st.text(f"{c.title}: {c.description}")


LONG_REFERENCE = 600  # characters; a longer reference answer starts folded


def show_reference(reference: str) -> None:
    """The expert's reference answer, as text; folded when long."""
    if not reference.strip():
        st.caption("This prompt has no reference answer.")
        return
    if len(reference) <= LONG_REFERENCE:
        st.markdown("**Reference answer**")
        st.text(reference)
        return
    label = f"Reference answer ({len(reference):,} characters)"
    with st.expander(label, icon=":material/menu_book:"):
        st.text(reference)


def show_item(item: LabelItem) -> None:
    """The prompt, the response and the criterion (or the rubric), nothing of the judge;
    the reference answer beside them."""
    main, side = st.columns([3, 2], gap="large")
    with side:
        show_reference(item.reference_answer)
    with main:
        _show_item(item)


def _show_item(item: LabelItem) -> None:
    st.markdown("**Prompt**")
    if item.messages:
        for message in item.messages:
            role = message.get("role", "") if isinstance(message, dict) else ""
            content = message.get("content", "") if isinstance(message, dict) else message
            st.text(f"{role}: {content}" if role else str(content))
    else:
        st.text(item.question)
    st.markdown("**Response**")
    st.text(item.response)
    if item.criterion is not None:
        show_criterion(item.criterion)
        st.caption(
            "Met means the description is true of the response, whatever the weight's sign "
            "(a met pitfall is a mistake the response made)."
        )
    else:
        st.markdown("**Rubric** · score the whole response from 1 (poor) to 10 (excellent)")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "Title": c.title,
                        "Description": c.description,
                        "Category": c.category.value,
                        "Weight": c.weight,
                    }  # fmt: skip
                    for c in item.rubric
                ],
                columns=["Title", "Description", "Category", "Weight"],
            ),
            hide_index=True,
        )


def show_reveal(reveal: LabelReveal) -> None:
    """Your stored label, then what the judges said (shown only after storing it)."""
    label = reveal.label
    yours = f"score {label.score}" if label.score is not None else verdict_word(label.met)
    st.success(f"Your label is stored: {yours}.", icon=":material/check:")
    if label.note:
        st.text(f"Your note: {label.note}")
    st.markdown("**What the judge said**")
    if not reveal.verdicts and not reveal.judgments:
        st.caption("No judge verdict on this item.")
    for v in reveal.verdicts:
        said = verdict_word(v.met) if v.ok else "no usable verdict"
        st.markdown(escape_md(f"{v.judge_model} ({v.judge_mode.value}): {said}"))
        if v.rationale:
            st.text(v.rationale)
    for j in reveal.judgments:
        rating = f"rating {j.rating:g}, " if j.rating is not None else ""
        reward = f"reward {j.reward:.2f}" if j.reward is not None else "no reward"
        said = f"{rating}{reward}" if j.ok else "no usable judgment"
        st.markdown(escape_md(f"{j.judge_model} ({j.judge_mode.value}): {said}"))
    if reveal.disagreements:
        st.warning(
            f"{reveal.disagreements} judge verdict(s) differ from your label; the agreement "
            "dashboard counts it, and an expert may revise the criterion.",
            icon=":material/compare_arrows:",
        )


def queue_form(user: UserInfo, datasets: dict[int, str]) -> None:
    """Draw a spot-check queue (Action.manage_spotchecks; the service checks it)."""
    with st.form("draw-queue"):
        name = st.text_input("Queue name")
        c1, c2, c3 = st.columns(3)
        unit = c1.selectbox("Unit", list(ItemUnit), format_func=lambda u: u.value)
        strategy = c2.selectbox(
            "Sampling", list(SamplingStrategy), format_func=lambda s: s.value.replace("_", "-")
        )
        stratum = c3.selectbox(
            "Stratify by (stratified only)",
            [None, *Stratum],
            format_func=lambda s: s.value.replace("_", " ") if s else "—",
        )
        c4, c5, c6 = st.columns(3)
        size = c4.number_input("Items", 1, 100_000, 50)
        per_item = c5.number_input("Annotators per item", 1, 20, 1)
        seed = c6.number_input("Seed", 0, 2**31 - 1, 0)
        chosen = st.multiselect(
            "Datasets (none: all)", list(datasets), format_func=lambda i: datasets[i]
        )
        if not st.form_submit_button("Draw queue", icon=":material/shuffle:"):
            return
    try:
        spec = queue_spec(
            name=name,
            unit=unit,
            strategy=strategy,
            stratify_by=stratum,
            size=int(size),
            labels_per_item=int(per_item),
            seed=int(seed),
            dataset_ids=tuple(chosen),
        )
        with write_session() as session:
            info = create_queue(session, user, spec)
    except RubricforgeError as exc:
        show_error(exc)
        return
    flash(f"Queue {info.name} drawn: {info.items} items.")
    st.rerun()
