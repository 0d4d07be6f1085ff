"""How a label gets from a key press to the database without being lost.

Every label button works through an on_click callback bound to the item that
was on screen when the button was drawn. Streamlit runs callbacks before the
page, for every button pressed since the last run (presses that arrive during
a run are merged, not dropped), so each press is handled on its own:

- a press for the item on screen stores its label (then the verdict is shown);
- a press for an item already labelled, or a label key pressed while the
  verdict was on screen (before the next item was), stores nothing and says so;
- a score needs an explicit choice: Enter with no score chosen is refused.

What happened is kept in NOTICES and shown at the top of the next run.
"""

from __future__ import annotations

import time
from typing import Any

import streamlit as st
from rubricforge.models.accounts.permissions import UserInfo
from rubricforge.models.agreement.corrections import my_labels, undo_label
from rubricforge.models.agreement.spotcheck import LabelItem, next_item, submit_label
from rubricforge.models.core.errors import RubricforgeError
from rubricforge.webapp.components.labeling import verdict_word
from rubricforge.webapp.components.text import escape_md
from rubricforge.webapp.db import read_session, write_session

ITEM, SHOWN, REVEAL, NOTICES = "spot:item", "spot:shown_at", "spot:reveal", "spot:notices"


def key_name(met: bool | None, key: str) -> str:
    """'Met (M)': a label and its key, for messages."""
    return f"{verdict_word(met).capitalize() if met is not None else 'Skip'} ({key})"


def notify(kind: str, message: str) -> None:
    st.session_state.setdefault(NOTICES, []).append((kind, message))


def show_notices() -> None:
    for kind, message in st.session_state.pop(NOTICES, []):
        getattr(st, kind)(escape_md(message))


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


def _on_screen(item_key: tuple[int, int | None]) -> bool:
    item = st.session_state.get(ITEM)
    return item is not None and (item.response_id, item.criterion_id) == item_key


def label(
    user: UserInfo,
    item_key: tuple[int, int | None],
    met: bool | None,
    name: str,
    note_key: str,
    score_key: str | None = None,
    score: int | None = None,
    show_verdict: bool = True,
) -> None:
    """on_click of Met / Not met / Skip / Submit score (score_key: the score widget) /
    a score's own key (score), for the item drawn with the button. Without
    show_verdict the next item comes at once and the stored label is said in a notice."""
    if not _on_screen(item_key) or st.session_state.get(REVEAL) is not None:
        notify(
            "warning",
            f"{name} was pressed for an item you had already labelled, so nothing more was "
            "stored. To correct a label, use Undo or 'Your labels' below.",
        )
        return
    if score_key is not None:
        score = st.session_state.get(score_key)
        if score is None:
            notify("warning", "Choose a score from 1 to 10 first: nothing was stored.")
            return
    item: LabelItem = st.session_state[ITEM]
    spent = max(0.0, time.time() - st.session_state.get(SHOWN, time.time()))
    try:
        with write_session() as session:
            reveal = submit_label(session, user, item.response_id, item.criterion_id, met,
                                  score=score, note=st.session_state.get(note_key, ""),
                                  seconds_spent=round(spent, 1))  # fmt: skip
    except RubricforgeError as exc:
        notify("error", str(exc))
        forget_item()  # e.g. labelled in another tab: the next run fetches a fresh item
        return
    if show_verdict:
        st.session_state[REVEAL] = reveal
        return
    said = f"score {score}" if score is not None else verdict_word(met)
    notify("success", f"Your label on item {item.position} is stored: {said}.")
    forget_item()


def early_key(met: bool | None, key: str) -> None:
    """on_click of the label keys while a verdict is on screen: the next item was not
    shown yet, so the press cannot be for it. Refused, and said so."""
    notify(
        "warning",
        f"{key_name(met, key)} was pressed before the next item was on screen, so it was not "
        "stored. Read the item below, then label it.",
    )
    forget_item()


def undo_last(user: UserInfo, queue_id: int) -> None:
    """on_click of Undo: remove my latest label in this queue; its item comes back."""
    try:
        with write_session() as session:
            last = my_labels(session, user, queue_id=queue_id, limit=1)
            if not last:
                notify("info", "You have no label in this queue to undo.")
                return
            undo_label(session, user, last[0].label_id)
    except RubricforgeError as exc:
        notify("error", str(exc))
        return
    said = f"score {last[0].score}" if last[0].score is not None else verdict_word(last[0].met)
    notify("success", f"Your label on item {last[0].position} ({said}) was undone; label it again.")
    forget_item()


def on_label(
    user: UserInfo,
    item: LabelItem,
    met: bool | None,
    name: str,
    note_key: str,
    score_key: str | None = None,
    *,
    score: int | None = None,
    show_verdict: bool = True,
) -> dict[str, Any]:
    """The on_click and args of a label button for `item`."""
    key = (item.response_id, item.criterion_id)
    args = (user, key, met, name, note_key, score_key, score, show_verdict)
    return {"on_click": label, "args": args}
