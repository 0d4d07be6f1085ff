"""Spot-check: label a queue's items blind, then see what the judge said.

The item is fetched and kept in the session with the moment it was shown; the
label goes to `submit_label`, which stores it and only then returns the judge's
verdicts (`LabelReveal`). Seconds spent run from showing the item to committing.
Every key press has a visible outcome (components/label_flow.py); a label is
corrected with Undo or under "Your labels" (audited). Keys are the annotator's own
(components/label_settings.py). Experts, researchers and admins draw queues here and
give their items to named annotators, who are served those first.
"""

from __future__ import annotations

import streamlit as st
from rubricforge.models.accounts.permissions import Action, can
from rubricforge.models.agreement.filter_choices import filter_choices
from rubricforge.models.agreement.label_keys import label_keys
from rubricforge.models.agreement.queues import QueueInfo
from rubricforge.models.agreement.spotcheck import list_queues
from rubricforge.webapp.auth import page_user
from rubricforge.webapp.components.label_flow import forget_item
from rubricforge.webapp.components.label_panel import label_panel
from rubricforge.webapp.components.label_settings import assign_form, keys_form
from rubricforge.webapp.components.labeling import queue_form, queues_frame
from rubricforge.webapp.components.own_labels import your_labels
from rubricforge.webapp.components.text import escape_md, show_flash
from rubricforge.webapp.db import read_session

QUEUE = "spot:queue"


def pick_queue(queues: list[QueueInfo]) -> QueueInfo:
    """The queue to label: the one chosen before, else the newest with items assigned
    to this annotator still open, else the newest."""
    by_id = {q.id: q for q in queues}
    chosen = st.session_state.get(QUEUE)
    if chosen not in by_id:
        chosen = next((q.id for q in queues if q.assigned_open), queues[0].id)
    queue_id = st.selectbox(
        "Queue",
        list(by_id),
        index=list(by_id).index(chosen),
        format_func=lambda i: (
            f"{by_id[i].name} · {by_id[i].yours} labelled by you · "
            f"{by_id[i].complete}/{by_id[i].items} complete"
            + (f" · {by_id[i].assigned_open} assigned to you" if by_id[i].assigned_open else "")
        ),
    )
    if queue_id != st.session_state.get(QUEUE):
        forget_item()
    st.session_state[QUEUE] = queue_id
    return by_id[queue_id]


st.title("Spot-check")
user = page_user()
show_flash()
may_label, may_draw = can(user, Action.label), can(user, Action.manage_spotchecks)
with read_session() as session:
    queues = list_queues(session, user)
    datasets = filter_choices(session).datasets if may_draw else {}
    keys = label_keys(session, user)
if may_draw:
    with st.expander("Draw a new queue", expanded=not queues, icon=":material/add:"):
        queue_form(user, datasets)
    if queues:
        with st.expander("Assign items to annotators", icon=":material/assignment_ind:"):
            assign_form(user, queues)
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

queue = pick_queue(queues)
st.subheader(escape_md(queue.name), anchor=False)
# Every tab is drawn on every run (cheap here), so a tab switch costs no rerun.
label_tab, mine_tab, keys_tab = st.tabs(["Label", f"Your labels ({queue.yours})", "Keys"])
with label_tab:
    label_panel(user, queue, keys)
with mine_tab:
    your_labels(user, queue.id)
with keys_tab:
    keys_form(user, keys)
