"""Spot-check: label a queue's items blind, then see what the judge said.

The item is fetched and kept in the session with the moment it was shown; the
label goes to `submit_label`, which stores it and only then returns the judge's
verdicts (`LabelReveal`). Seconds spent run from showing the item to committing.
Every key press has a visible outcome (components/label_flow.py); a label is
corrected with Undo or under "Your labels" (audited). Experts, researchers and
admins draw queues here too.
"""

from __future__ import annotations

import streamlit as st
from rubricforge.models.accounts.permissions import Action, UserInfo, can
from rubricforge.models.agreement.filter_choices import filter_choices
from rubricforge.models.agreement.spotcheck import list_queues
from rubricforge.webapp.auth import page_user
from rubricforge.webapp.components.label_flow import (
    REVEAL,
    current_item,
    early_key,
    forget_item,
    on_label,
    show_notices,
    undo_last,
)
from rubricforge.webapp.components.labeling import (
    button,
    queue_form,
    queues_frame,
    show_item,
    show_reveal,
)
from rubricforge.webapp.components.own_labels import your_labels
from rubricforge.webapp.components.text import escape_md, show_flash
from rubricforge.webapp.db import read_session

QUEUE = "spot:queue"


def label_panel(user: UserInfo, queue_id: int) -> None:
    show_notices()
    reveal = st.session_state.get(REVEAL)
    item = current_item(user, queue_id)
    if item is None:
        st.success("Nothing left for you in this queue. Thank you!", icon=":material/done_all:")
        undo_button(user, queue_id)
        return
    st.caption(f"Item {item.position} · {item.remaining} left for you, this one included")
    show_item(item)
    st.divider()
    if reveal is not None:
        show_reveal(reveal)
        c1, c2 = st.columns([1, 3])
        with c1:
            button("Next item", "Enter", type="primary", icon=":material/arrow_forward:",
                   on_click=forget_item)  # fmt: skip
        with c2:
            undo_button(user, queue_id)
        # Label keys pressed now would be for an item not on screen yet: caught and refused.
        st.caption("Keys M, N and S work once the next item is shown:")
        for col, met, key in zip(st.columns(6)[:3], (True, False, None), "MNS", strict=True):
            with col:
                button(key, key, key=f"spot:early:{key}", type="tertiary",
                       on_click=early_key, args=(met,))  # fmt: skip
        return
    note_key = f"spot:note:{queue_id}:{item.position}"
    st.text_input("Note (optional)", key=note_key)
    c1, c2, c3 = st.columns(3)
    if item.criterion is not None:
        with c1:
            button("Met", "M", key="spot:met", type="primary", width="stretch",
                   **on_label(user, item, True, "Met (M)", note_key))  # fmt: skip
        with c2:
            button("Not met", "N", key="spot:not-met", type="primary", width="stretch",
                   **on_label(user, item, False, "Not met (N)", note_key))  # fmt: skip
    else:
        score_key = f"spot:score:{queue_id}:{item.position}"
        with c1:  # no default: a score is always a choice the annotator made
            st.segmented_control("Score (1 poor – 10 excellent)", list(range(1, 11)),
                                 key=score_key)  # fmt: skip
        with c2:
            submit = on_label(user, item, None, "Submit score (Enter)", note_key, score_key)
            button("Submit score", "Enter", key="spot:score", type="primary", **submit)
    with c3:
        button("Skip", "S", key="spot:skip", width="stretch",
               **on_label(user, item, None, "Skip (S)", note_key))  # fmt: skip
    undo_button(user, queue_id)
    st.caption(
        "Keys: M met · N not met · S skip · Enter next. The judge's verdict appears only "
        "after your label is stored; Undo or 'Your labels' corrects a label (audited)."
    )


def undo_button(user: UserInfo, queue_id: int) -> None:
    button("Undo my last label", "U", key="spot:undo", icon=":material/undo:",
           on_click=undo_last, args=(user, queue_id))  # fmt: skip


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
your_labels(user, queue_id)
