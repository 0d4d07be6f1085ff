"""Two forms on the Spot-check page: an annotator's own keys (stored per user), and,
for whoever draws queues, giving a queue's items to named annotators."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from rubricforge.models.accounts.permissions import UserInfo
from rubricforge.models.agreement.assignments import (
    assign_items,
    assignments,
    labellers,
    parse_positions,
)
from rubricforge.models.agreement.label_keys import ACTIONS, LabelKeys, save_label_keys
from rubricforge.models.agreement.queues import QueueInfo
from rubricforge.models.core.errors import InvalidInputError, RubricforgeError
from rubricforge.webapp.components.text import flash, show_error
from rubricforge.webapp.db import read_session, write_session


def keys_form(user: UserInfo, keys: LabelKeys) -> None:
    """The annotator's keys; a bad set is refused with the reason and nothing saved."""
    defaults = LabelKeys()
    st.caption(
        "One letter or digit, or a named key (Enter, Space, Escape, ...). C and R are "
        "Streamlit's own. Defaults: "
        + ", ".join(f"{defaults.shown(f)} {what.lower()}" for f, what in ACTIONS.items())
        + ", 1-9 and 0 for the scores 1-10."
    )
    with st.form("label-keys"):
        cols = st.columns(len(ACTIONS))
        chosen = {
            field: col.text_input(what, value=keys.shown(field), max_chars=12)
            for col, (field, what) in zip(cols, ACTIONS.items(), strict=True)
        }
        ratings = st.text_input(
            "Score keys, for 1 to 10 in order", value=keys.ratings.upper(), max_chars=20
        )
        show = st.toggle(
            "Show the judge's verdict after each label (off: the next item follows at once)",
            value=keys.show_verdict,
        )
        c1, c2 = st.columns([1, 4])
        save = c1.form_submit_button("Save keys", icon=":material/keyboard:")
        reset = c2.form_submit_button("Back to the defaults")
    if not (save or reset):
        return
    values = {} if reset else {**chosen, "ratings": ratings, "show_verdict": show}
    try:
        with write_session() as session:
            save_label_keys(session, user, **values)
    except RubricforgeError as exc:
        show_error(exc)
        return
    flash("Your keys are saved." if save else "Your keys are back to the defaults.")
    st.rerun()


def assign_form(user: UserInfo, queues: list[QueueInfo]) -> None:
    """Give a queue's items to an annotator: positions or a share of the sample."""
    with read_session() as session:
        people = labellers(session)
    by_id = {q.id: q for q in queues}
    queue_id = st.selectbox(
        "Queue to assign",
        list(by_id),
        format_func=lambda i: f"{by_id[i].name} ({by_id[i].items} items)",
    )
    if queue_id is None:
        return
    with read_session() as session:
        rows = assignments(session, queue_id)
    if rows:
        st.dataframe(
            pd.DataFrame(
                [{"Annotator": r.annotator, "Assigned": r.assigned, "Labelled": r.labelled}
                 for r in rows]
            ),
            hide_index=True,
        )  # fmt: skip
    with st.form("assign-items"):
        c1, c2, c3 = st.columns([2, 1, 2])
        who = c1.selectbox("Annotator", people, index=None)
        share = c2.number_input("Share of the queue (%)", 0, 100, 0)
        positions = c3.text_input("or positions (e.g. 1-50, 75)", max_chars=2000)
        if not st.form_submit_button("Assign items", icon=":material/assignment_ind:"):
            return
    try:
        if who is None:
            raise_input("choose the annotator to give the items to")
        if positions.strip() and share:
            raise_input("give a share or positions, not both")
        if not positions.strip() and not share:
            raise_input("give a share of the queue (1 to 100 %) or positions")
        picked = parse_positions(positions) if positions.strip() else None
        with write_session() as session:
            added = assign_items(
                session, user, queue_id, str(who),
                positions=picked, share=None if picked else share / 100,
            )  # fmt: skip
    except RubricforgeError as exc:
        show_error(exc)
        return
    flash(f"{added} item(s) of {by_id[queue_id].name} newly assigned to {who}.")
    st.rerun()


def raise_input(message: str) -> None:
    raise InvalidInputError(message)
