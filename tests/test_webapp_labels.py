"""The Spot-check page: no label is lost and every label can be corrected.
Undo, changing one's own label, an explicit score, and key presses that arrive
together (as Streamlit merges presses made during a rerun) each get a visible outcome."""

from __future__ import annotations

import pytest
from judging_support import judged
from rubricforge.models.agreement.orm import HumanLabel, ItemUnit
from rubricforge.models.agreement.sampling import QueueSpec
from rubricforge.models.agreement.spotcheck import create_queue
from rubricforge.models.core.audit import AuditEntry
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest
from webapp_support import app_as, click, has, shown, widget

pytestmark = pytest.mark.db


def labels(engine: Engine) -> list[tuple[int, int | None, bool | None, int | None]]:
    with Session(engine) as s:
        rows = s.execute(
            select(HumanLabel.response_id, HumanLabel.criterion_id, HumanLabel.met,
                   HumanLabel.score).order_by(HumanLabel.id)
        ).all()  # fmt: skip
    return [tuple(r) for r in rows]  # type: ignore[misc]


def audit_actions(engine: Engine) -> list[str]:
    with Session(engine) as s:
        return list(s.scalars(select(AuditEntry.action).where(AuditEntry.action.like("label.%"))))


def press(at: AppTest, *names: str) -> AppTest:
    """Buttons pressed before the app reruns (one merged rerun, as in a browser when
    keys come faster than a run)."""
    for name in names:
        widget(at, "button", name).click()
    at.run()
    assert not at.exception, at.exception
    return at


def test_undo_brings_the_last_item_back(app_db: str, engine: Engine) -> None:
    j = judged(engine, queue_size=3)
    at = app_as(j.uid("ann"), "views/spotcheck.py")
    first = at.session_state["spot:item"]
    click(at, "Met")
    assert shown(at, "success", "Your label is stored: met.")
    click(at, "Undo my last label")
    assert shown(at, "success", f"Your label on item {first.position} (met) was undone")
    assert labels(engine) == []
    assert at.session_state["spot:item"].position == first.position  # to label again, blind
    assert has(at, "button", "Not met")
    click(at, "Not met")
    assert [lab[2] for lab in labels(engine)] == [False]
    assert audit_actions(engine) == ["label.undo"]


def test_an_annotator_changes_an_earlier_label(app_db: str, engine: Engine) -> None:
    j = judged(engine, queue_size=3)
    at = app_as(j.uid("ann"), "views/spotcheck.py")
    click(at, "Met")
    click(at, "Next item")
    click(at, "Skip")
    widget(at, "selectbox", "Label to change").set_value(
        widget(at, "selectbox", "Label to change").options[-1]  # the oldest: "Item 1: met"
    )
    at.run()
    at.segmented_control[0].set_value("Not met")
    widget(at, "text_input", "Note").set_value("looked again")
    at.run()
    click(at, "Save change")
    assert shown(at, "success", "Your label on item 1 was changed.")
    assert [lab[2] for lab in labels(engine)] == [False, None]
    with Session(engine) as s:
        assert "looked again" in s.scalars(select(HumanLabel.note)).all()
    assert audit_actions(engine) == ["label.change"]


def test_a_score_needs_an_explicit_choice(app_db: str, engine: Engine) -> None:
    j = judged(engine)
    with Session(engine) as s, s.begin():
        spec = QueueSpec(name="whole", size=2, unit=ItemUnit.response)
        create_queue(s, j.world.users["erin"], spec)
    at = app_as(j.uid("ann"), "views/spotcheck.py")
    score = next(w for w in at.segmented_control if w.label.startswith("Score"))
    assert score.value is None  # no default value to store by accident
    click(at, "Submit score")  # Enter with nothing chosen
    assert shown(at, "warning", "Choose a score from 1 to 10 first: nothing was stored.")
    assert labels(engine) == []
    next(w for w in at.segmented_control if w.label.startswith("Score")).set_value(7)
    click(at, "Submit score")
    assert [lab[3] for lab in labels(engine)] == [7]
    assert shown(at, "success", "Your label is stored: score 7.")


def test_a_label_key_pressed_with_next_is_refused_visibly(app_db: str, engine: Engine) -> None:
    j = judged(engine, queue_size=3)
    at = app_as(j.uid("ann"), "views/spotcheck.py")
    click(at, "Met")
    shown_before = at.session_state["spot:item"]
    press(at, "Next item", "N")  # Enter then N within 100 ms
    assert shown(at, "warning", "Not met (N) was pressed before the next item was on screen")
    assert len(labels(engine)) == 1  # nothing stored for an item not yet seen
    assert at.session_state["spot:item"].position == shown_before.position + 1
    assert has(at, "button", "Not met")  # the next item, ready to label


def test_two_label_keys_for_one_item_store_one_and_say_so(app_db: str, engine: Engine) -> None:
    j = judged(engine, queue_size=3)
    at = app_as(j.uid("ann"), "views/spotcheck.py")
    press(at, "Not met", "Met")
    assert len(labels(engine)) == 1
    assert shown(at, "warning", "was pressed for an item you had already labelled")
    assert shown(at, "success", "Your label is stored:")
