"""The Spot-check page's labelling panel: the annotator's progress, the item (blind)
beside its reference answer, and the label buttons on the annotator's own keys
(`models.agreement.label_keys`, Streamlit's button shortcuts). Met and Not met differ
in type and icon, not only in words. How a press becomes a label: label_flow.py."""

from __future__ import annotations

import streamlit as st
from rubricforge.models.accounts.permissions import UserInfo
from rubricforge.models.agreement.label_keys import LabelKeys
from rubricforge.models.agreement.queues import QueueInfo
from rubricforge.models.agreement.spotcheck import LabelItem
from rubricforge.webapp.components.label_flow import (
    REVEAL,
    current_item,
    early_key,
    forget_item,
    on_label,
    show_notices,
    undo_last,
)
from rubricforge.webapp.components.labeling import button, show_item, show_reveal


def progress(queue: QueueInfo, item: LabelItem | None, labelled: bool) -> None:
    """How far the annotator is in this queue: their labels against what is theirs
    (`labelled`: the item on screen is labelled already, its verdict shown)."""
    left = item.remaining - labelled if item is not None else 0
    total = queue.yours + left
    text = f"{queue.yours} of {total} labelled by you"
    if queue.assigned_open:
        text += f" · {queue.assigned_open} assigned to you still open"
    st.progress(queue.yours / total if total else 1.0, text=text)


def label_panel(user: UserInfo, queue: QueueInfo, keys: LabelKeys) -> None:
    show_notices()
    reveal = st.session_state.get(REVEAL)
    item = current_item(user, queue.id)
    progress(queue, item, reveal is not None)
    if item is None:
        st.success("Nothing left for you in this queue. Thank you!", icon=":material/done_all:")
        undo_button(user, queue.id, keys)
        return
    mine = " · assigned to you" if item.assigned else ""
    st.caption(f"Item {item.position} · {item.remaining} left for you, this one included{mine}")
    show_item(item)
    st.divider()
    if reveal is not None:
        show_reveal(reveal)
        c1, c2 = st.columns([1, 3])
        with c1:
            button(
                "Next item",
                keys.next,
                type="primary",
                icon=":material/arrow_forward:",
                on_click=forget_item,
            )
        with c2:
            undo_button(user, queue.id, keys)
        # Label keys pressed now would be for an item not on screen yet: caught and refused.
        names = (keys.shown("met"), keys.shown("not_met"), keys.shown("skip"))
        st.caption(f"Keys {', '.join(names)} work once the next item is shown:")
        fields = ("met", "not_met", "skip")
        for col, met, field in zip(st.columns(6)[:3], (True, False, None), fields, strict=True):
            with col:
                button(
                    keys.shown(field),
                    getattr(keys, field),
                    key=f"spot:early:{field}",
                    type="tertiary",
                    on_click=early_key,
                    args=(met, keys.shown(field)),
                )
        return
    label_buttons(user, item, keys)
    undo_button(user, queue.id, keys)
    after = (
        "the judge's verdict appears only after your label is stored"
        if keys.show_verdict
        else "the next item follows at once"
    )
    st.caption(
        f"Keys: {keys.shown('met')} met · {keys.shown('not_met')} not met · "
        f"{keys.shown('skip')} skip · {keys.shown('next')} next · {keys.shown('undo')} undo; "
        f"{after}. Change them under Keys; Undo or 'Your labels' corrects a label (audited)."
    )


def label_buttons(user: UserInfo, item: LabelItem, keys: LabelKeys) -> None:
    note_key = f"spot:note:{item.queue_id}:{item.position}"
    st.text_input("Note (optional)", key=note_key)
    c1, c2, c3 = st.columns(3)
    if item.criterion is not None:
        met, not_met = f"Met ({keys.shown('met')})", f"Not met ({keys.shown('not_met')})"
        with c1:
            button(
                "Met",
                keys.met,
                key="spot:met",
                type="primary",
                width="stretch",
                icon="✅",
                icon_position="right",
                **on_label(user, item, True, met, note_key, show_verdict=keys.show_verdict),
            )
        with c2:
            button(
                "Not met",
                keys.not_met,
                key="spot:not-met",
                type="secondary",
                width="stretch",
                icon="❌",
                icon_position="right",
                **on_label(user, item, False, not_met, note_key, show_verdict=keys.show_verdict),
            )
    else:
        score_key = f"spot:score:{item.queue_id}:{item.position}"
        with c1:  # no default: a score is always a choice the annotator made
            st.segmented_control("Score (1 poor – 10 excellent)", list(range(1, 11)), key=score_key)
        with c2:
            name = f"Submit score ({keys.shown('next')})"
            submit = on_label(
                user, item, None, name, note_key, score_key, show_verdict=keys.show_verdict
            )
            button("Submit score", keys.next, key="spot:score", type="primary", **submit)
    with c3:
        skip = f"Skip ({keys.shown('skip')})"
        button(
            "Skip",
            keys.skip,
            key="spot:skip",
            width="stretch",
            icon="⏭️",
            icon_position="right",
            **on_label(user, item, None, skip, note_key, show_verdict=keys.show_verdict),
        )
    if item.criterion is None:
        rating_keys(user, item, keys, note_key)


def rating_keys(user: UserInfo, item: LabelItem, keys: LabelKeys, note_key: str) -> None:
    """One key a score: stores it at once (keys 1-9 and 0 for 10 by default)."""
    shown = " ".join(k.upper() for k in keys.ratings)
    st.caption(f"Or press a score's key to store it at once ({shown} for 1 to 10):")
    for score, (col, key) in enumerate(zip(st.columns(10), keys.ratings, strict=True), 1):
        with col:
            name = f"Score {score} ({key.upper()})"
            button(
                str(score),
                key,
                key=f"spot:rate:{score}",
                type="tertiary",
                **on_label(
                    user, item, None, name, note_key, score=score, show_verdict=keys.show_verdict
                ),
            )


def undo_button(user: UserInfo, queue_id: int, keys: LabelKeys) -> None:
    button(
        "Undo my last label",
        keys.undo,
        key="spot:undo",
        icon=":material/undo:",
        on_click=undo_last,
        args=(user, queue_id),
    )
