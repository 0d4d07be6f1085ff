"""'Your labels' on the Spot-check page (its own tab): an annotator's own labels in a
queue, newest first, narrowed by answer, and changing one (the service audits it;
agreement then reads the new answer)."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from rubricforge.models.accounts.permissions import UserInfo
from rubricforge.models.agreement.corrections import OwnLabel, change_label, my_labels
from rubricforge.models.core.errors import RubricforgeError
from rubricforge.webapp.components.label_flow import ITEM, REVEAL, notify
from rubricforge.webapp.components.labeling import verdict_word
from rubricforge.webapp.components.text import show_error
from rubricforge.webapp.db import read_session, write_session

ANSWERS = {"Met": True, "Not met": False, "Skip": None}
SHOW = ["All", "Met", "Not met", "Skipped", "Scored", "With a note"]


def shows(lab: OwnLabel, which: str) -> bool:
    """Whether a label belongs under the 'Show' choice."""
    if which == "With a note":
        return bool(lab.note)
    if which == "Scored":
        return lab.score is not None
    if which == "Skipped":
        return lab.met is None and lab.score is None
    if which in ("Met", "Not met"):
        return lab.met is ANSWERS[which]
    return True


def answer(lab: OwnLabel) -> str:
    return f"score {lab.score}" if lab.score is not None else verdict_word(lab.met)


def your_labels(user: UserInfo, queue_id: int) -> None:
    with read_session() as session:
        mine = my_labels(session, user, queue_id=queue_id)
    if not mine:
        st.caption("You have no labels in this queue yet.")
        return
    which = st.radio("Show", SHOW, horizontal=True, key="spot:mine:show")
    mine = [m for m in mine if shows(m, which)]
    if not mine:
        st.caption(f"None of your labels in this queue: {which.lower()}.")
        return
    st.dataframe(
        pd.DataFrame(
            [
                {"Item": m.position, "Criterion": m.criterion_title or "(whole response)",
                 "Your label": answer(m), "Note": m.note, "When": m.created_at}
                for m in mine
            ]
        ),
        hide_index=True,
    )  # fmt: skip
    by_id = {m.label_id: m for m in mine}
    chosen = st.selectbox(
        "Label to change",
        list(by_id),
        index=None,
        format_func=lambda i: f"Item {by_id[i].position}: {answer(by_id[i])}",
    )
    if chosen is None:
        return
    lab = by_id[chosen]
    key = f"spot:change:{chosen}"
    if lab.criterion_id is None:
        new = st.segmented_control("New score", [*range(1, 11), "Skip"], key=f"{key}:score")
        met, score = None, (None if new in (None, "Skip") else int(new))
        picked = new is not None
    else:
        new = st.segmented_control("New label", list(ANSWERS), key=f"{key}:met")
        met, score, picked = ANSWERS.get(new or ""), None, new is not None
    note = st.text_input("Note", value=lab.note, key=f"{key}:note")
    st.caption("The change is recorded in the audit log, with your label before it.")
    if st.button("Save change", disabled=not picked, key=f"{key}:save"):
        try:
            with write_session() as session:
                change_label(session, user, chosen, met, score=score, note=note)
        except RubricforgeError as exc:
            show_error(exc)
            return
        reveal = st.session_state.get(REVEAL)
        if reveal is not None and ITEM in st.session_state:
            st.session_state.pop(REVEAL, None)  # the shown "stored" label may be this one
            st.session_state.pop(ITEM, None)
        notify("success", f"Your label on item {lab.position} was changed.")
        st.rerun()
