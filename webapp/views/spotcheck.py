"""Spot-check: label a queue's items blind, then see what the judge said.

The item is fetched and kept in the session with the moment it was shown; the
label goes to `submit_label`, which stores it and only then returns the judge's
verdicts (`LabelReveal`). Seconds spent run from showing the item to committing.
Experts, researchers and admins draw queues here too.
"""

from __future__ import annotations

import time

import streamlit as st
from rubricforge.models.accounts.permissions import Action, UserInfo, can
from rubricforge.models.agreement.filter_choices import filter_choices
from rubricforge.models.agreement.spotcheck import LabelItem, list_queues, next_item, submit_label
from rubricforge.models.core.errors import RubricforgeError
from rubricforge.webapp.auth import page_user
from rubricforge.webapp.components.labeling import (
    button,
    queue_form,
    queues_frame,
    show_item,
    show_reveal,
)
from rubricforge.webapp.components.text import escape_md, show_error, show_flash
from rubricforge.webapp.db import read_session, write_session

QUEUE, ITEM, SHOWN, REVEAL = "spot:queue", "spot:item", "spot:shown_at", "spot:reveal"


def current_item(user: UserInfo, queue_id: int) -> LabelItem | None:
    """The item on screen, or the annotator's next one (shown from now on)."""
    item = st.session_state.get(ITEM)
    if item is not None and item.queue_id == queue_id:
        return item  # type: ignore[no-any-return]
    with read_session() as session:
        item = next_item(session, user, queue_id=queue_id)
    st.session_state[ITEM] = item
    st.session_state[SHOWN] = time.time()
    return item


def forget_item() -> None:
    for key in (ITEM, SHOWN, REVEAL):
        st.session_state.pop(key, None)


def commit(user: UserInfo, item: LabelItem, met: bool | None, score: int | None, note: str) -> None:
    spent = max(0.0, time.time() - st.session_state.get(SHOWN, time.time()))
    try:
        with write_session() as session:
            reveal = submit_label(
                session,
                user,
                item.response_id,
                item.criterion_id,
                met,
                score=score,
                note=note,
                seconds_spent=round(spent, 1),
            )
    except RubricforgeError as exc:
        show_error(exc)
        forget_item()  # e.g. labelled in another tab: the next run fetches a fresh item
        return
    st.session_state[REVEAL] = reveal
    st.rerun()


def label_panel(user: UserInfo, queue_id: int) -> None:
    reveal = st.session_state.get(REVEAL)
    item = current_item(user, queue_id)
    if item is None:
        st.success("Nothing left for you in this queue. Thank you!", icon=":material/done_all:")
        return
    st.caption(f"Item {item.position} · {item.remaining} left for you, this one included")
    show_item(item)
    st.divider()
    if reveal is not None:
        show_reveal(reveal)
        if button("Next item", "Enter", type="primary", icon=":material/arrow_forward:"):
            forget_item()
            st.rerun()
        return
    note = st.text_input("Note (optional)", key=f"spot:note:{queue_id}:{item.position}")
    c1, c2, c3 = st.columns(3)
    if item.criterion is not None:
        with c1:
            if button("Met", "M", key="spot:met", type="primary", width="stretch"):
                commit(user, item, True, None, note)
        with c2:
            if button("Not met", "N", key="spot:not-met", type="primary", width="stretch"):
                commit(user, item, False, None, note)
    else:
        score = c1.slider("Score", 1, 10, 5, key=f"spot:score:{queue_id}:{item.position}")
        with c2:
            if button("Submit score", "Enter", key="spot:score", type="primary"):
                commit(user, item, None, int(score), note)
    with c3:
        if button("Skip", "S", key="spot:skip", width="stretch"):
            commit(user, item, None, None, note)
    st.caption(
        "Keys: M met · N not met · S skip · Enter next. The judge's verdict appears only "
        "after your label is stored, and a stored label cannot be changed."
    )


st.title("Spot-check")
user = page_user()
show_flash()
may_label, may_draw = can(user, Action.label), can(user, Action.manage_spotchecks)
with read_session() as session:
    queues = list_queues(session, user)
    datasets = filter_choices(session).datasets if may_draw else {}
if may_draw:
    with st.expander("Draw a new queue", expanded=not queues, icon=":material/add:"):
        queue_form(user, datasets)
if not queues:
    st.info("No spot-check queues yet." + (" Draw one above." if may_draw else " Ask an expert."))
    st.stop()
if not may_label:
    st.info(
        f"Labeling is for annotators and admins (your role: {user.role.value}); experts "
        "decide disputed items on the Adjudication page.",
        icon=":material/lock:",
    )
    st.dataframe(queues_frame(queues), hide_index=True)
    st.stop()

by_id = {q.id: q for q in queues}
chosen = st.session_state.get(QUEUE)
queue_id = st.selectbox(
    "Queue",
    list(by_id),
    index=list(by_id).index(chosen) if chosen in by_id else 0,
    format_func=lambda i: (
        f"{by_id[i].name} · {by_id[i].yours} labelled by you · "
        f"{by_id[i].complete}/{by_id[i].items} complete"
    ),
)
if queue_id != chosen:
    forget_item()
st.session_state[QUEUE] = queue_id
st.subheader(escape_md(by_id[queue_id].name), anchor=False)
label_panel(user, queue_id)
