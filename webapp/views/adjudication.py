"""Adjudication: items whose annotators disagree, with both labels and the judge's
verdicts, and the expert's final label (`adjudicate`). Experts and admins only:
the page shows verdicts that annotators must not see before labelling."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from rubricforge.models.accounts.permissions import Action, UserInfo
from rubricforge.models.agreement.adjudication import adjudicate, adjudication_queue
from rubricforge.models.agreement.items import ItemDetail
from rubricforge.models.core.errors import RubricforgeError
from rubricforge.webapp.auth import page_user
from rubricforge.webapp.components.labeling import show_criterion, show_reference, verdict_word
from rubricforge.webapp.components.text import flash, show_error, show_flash
from rubricforge.webapp.db import read_session, write_session

LIMIT = 50


def labels_frame(item: ItemDetail) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Annotator": lab.annotator,
                "Label": f"score {lab.score}" if lab.score is not None else verdict_word(lab.met),
                "Note": lab.note,
                "Seconds": lab.seconds_spent,
            }
            for lab in item.labels
        ],
        columns=["Annotator", "Label", "Note", "Seconds"],
    )


def judges_frame(item: ItemDetail) -> pd.DataFrame:
    rows = [
        {"Judge": f"{v.judge_model} ({v.judge_mode.value})",
         "Verdict": verdict_word(v.met) if v.ok else "unusable", "Rationale": v.rationale}
        for v in item.verdicts
    ] + [
        {"Judge": f"{j.judge_model} ({j.judge_mode.value})",
         "Verdict": f"rating {j.rating}, reward {j.reward}" if j.ok else "unusable",
         "Rationale": ""}
        for j in item.judgments
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["Judge", "Verdict", "Rationale"])


def decide(
    user: UserInfo, item: ItemDetail, met: bool | None, score: int | None, note: str
) -> None:
    try:
        with write_session() as session:
            final = adjudicate(
                session, user, item.response_id, item.criterion_id, met=met, score=score, note=note
            )
    except RubricforgeError as exc:
        show_error(exc)
        return
    said = f"score {final.score}" if final.score is not None else verdict_word(final.met)
    flash(f"Final label recorded: {said} (response {item.response_id}).")
    st.rerun()


def describe(item: ItemDetail) -> str:
    what = item.criterion.title if item.criterion is not None else "whole response"
    return f"response {item.response_id} · {what}"


def item_panel(user: UserInfo, item: ItemDetail) -> None:
    key = f"adj:{item.response_id}:{item.criterion_id}"
    main, side = st.columns([3, 2], gap="large")
    with side:
        show_reference(item.reference_answer)
    with main:
        st.markdown("**Prompt**")
        st.text(item.question)
        st.markdown("**Response**")
        st.text(item.response)
        if item.criterion is not None:
            show_criterion(item.criterion)
    st.markdown("**Annotators**")
    st.dataframe(labels_frame(item), hide_index=True)
    st.markdown("**Judges**")
    st.dataframe(judges_frame(item), hide_index=True)
    note = st.text_input("Note on the final label", key=f"{key}:note")
    c1, c2 = st.columns(2)
    if item.criterion_id is not None:
        if c1.button("Final: met", key=f"{key}:met", type="primary", width="stretch"):
            decide(user, item, True, None, note)
        if c2.button("Final: not met", key=f"{key}:not", type="primary", width="stretch"):
            decide(user, item, False, None, note)
    else:
        score = c1.slider("Final score", 1, 10, 5, key=f"{key}:score")
        if c2.button("Record final score", key=f"{key}:save", type="primary"):
            decide(user, item, None, int(score), note)


st.title("Adjudication")
user = page_user(Action.adjudicate)
show_flash()
with read_session() as session:
    items = adjudication_queue(session, user, limit=LIMIT)
if not items:
    st.info(
        "No disputed items for you: annotators agree everywhere, or the disputes left are "
        "on items you labelled yourself (another expert decides those)."
    )
    st.stop()
st.caption(
    f"{len(items)}{'+' if len(items) == LIMIT else ''} disputed items, oldest first. "
    "Your final label replaces the majority vote in every agreement figure."
)

chosen = st.selectbox("Disputed item", range(len(items)), format_func=lambda i: describe(items[i]))
item_panel(user, items[chosen or 0])
