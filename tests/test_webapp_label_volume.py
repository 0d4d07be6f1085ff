"""The Spot-check page for labelling at volume: the reference answer beside the item
(spot-check and adjudication), a progress bar, Met and Not met told apart, the
annotator's own labels one tab away, items assigned to named annotators served
first, and the annotator's own keys (number keys for scores, and going straight on)."""

from __future__ import annotations

import pytest
from judging_support import judged
from rubricforge.models.agreement.label_keys import LabelKeys, label_keys
from rubricforge.models.agreement.orm import HumanLabel, ItemUnit, LabelAssignment
from rubricforge.models.agreement.sampling import QueueSpec
from rubricforge.models.agreement.spotcheck import create_queue, next_item, submit_label
from rubricforge.models.rubrics.orm import Prompt
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest
from webapp_support import app_as, click, has, shown, widget

pytestmark = pytest.mark.db
LONG = ("Step one. " * 100).strip()  # 999 characters: folded
MARKUP = "Give **fluids** <b>now</b> and see [a link](http://x.test)"


def mets(engine: Engine) -> list[tuple[bool | None, int | None]]:
    with Session(engine) as s:
        rows = s.execute(select(HumanLabel.met, HumanLabel.score).order_by(HumanLabel.id))
        return [tuple(r) for r in rows]  # type: ignore[misc]


def set_references(engine: Engine, text: str) -> None:
    with Session(engine) as s, s.begin():
        s.execute(update(Prompt).values(reference_answer=text))


def texts(at: AppTest) -> list[str]:
    return [t.value for t in at.text]


def test_the_reference_answer_is_shown_beside_the_item_as_text(app_db: str, engine: Engine) -> None:
    j = judged(engine, queue_size=3)
    set_references(engine, MARKUP)
    at = app_as(j.uid("ann"), "views/spotcheck.py")
    assert shown(at, "markdown", "Reference answer")
    assert MARKUP in texts(at)  # as typed: no bold, no HTML, no link
    set_references(engine, LONG)
    at = app_as(j.uid("ann"), "views/spotcheck.py")
    folded = [e for e in at.expander if e.label.startswith("Reference answer")]
    assert [e.label for e in folded] == ["Reference answer (999 characters)"]
    assert LONG in [t.value for t in folded[0].text]


def test_adjudication_shows_the_reference_answer(app_db: str, engine: Engine) -> None:
    j = judged(engine, queue_size=1, per_item=2)
    set_references(engine, MARKUP)
    users = j.world.users
    with Session(engine) as s, s.begin():
        for name, met in (("ann", True), ("bob", False)):
            item = next_item(s, users[name], queue_id=j.queue or 0)
            assert item is not None
            submit_label(s, users[name], item.response_id, item.criterion_id, met)
    at = app_as(j.uid("erin"), "views/adjudication.py")
    assert has(at, "button", "Final: met")
    assert MARKUP in texts(at)


def test_progress_and_distinct_buttons(app_db: str, engine: Engine) -> None:
    j = judged(engine, queue_size=4)
    at = app_as(j.uid("ann"), "views/spotcheck.py")
    bar = at.get("progress")[0]
    assert bar.proto.text == "0 of 4 labelled by you"
    met, not_met = widget(at, "button", "Met"), widget(at, "button", "Not met")
    assert (met.proto.type, met.proto.icon, met.proto.shortcut) == ("primary", "✅", "m")
    assert (not_met.proto.type, not_met.proto.icon) == ("secondary", "❌")
    click(at, "Met")
    click(at, "Next item")
    bar = at.get("progress")[0]
    assert bar.proto.text == "1 of 4 labelled by you"
    assert bar.proto.value == 25
    # Their own labels are one tab away, counted, with change as before.
    assert [t.label for t in at.tabs] == ["Label", "Your labels (1)", "Keys"]
    assert has(at, "selectbox", "Label to change")


def test_assigned_items_come_first_and_the_lead_assigns_on_the_page(
    app_db: str, engine: Engine
) -> None:
    j = judged(engine, queue_size=6)
    lead = app_as(j.uid("erin"), "views/spotcheck.py")
    widget(lead, "selectbox", "Annotator").set_value("bob")
    widget(lead, "text_input", "or positions (e.g. 1-50, 75)").set_value("4-5")
    click(lead, "Assign items")
    assert shown(lead, "success", "2 item(s) of pilot newly assigned to bob.")
    # Bad input: a share and positions at once, and a position past the queue.
    widget(lead, "selectbox", "Annotator").set_value("bob")
    widget(lead, "number_input", "Share of the queue (%)").set_value(50)
    widget(lead, "text_input", "or positions (e.g. 1-50, 75)").set_value("9")
    click(lead, "Assign items")
    assert shown(lead, "error", "give a share or positions, not both")
    widget(lead, "number_input", "Share of the queue (%)").set_value(0)
    click(lead, "Assign items")
    assert shown(lead, "error", "no item at 9")
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(LabelAssignment)) == 2
    bob = app_as(j.uid("bob"), "views/spotcheck.py")
    assert bob.session_state["spot:item"].position == 4
    assert shown(bob, "caption", "left for you, this one included · assigned to you")
    assert "2 assigned to you still open" in bob.get("progress")[0].proto.text
    assert "2 assigned to you" in widget(bob, "selectbox", "Queue").format_func(j.queue)


def test_number_keys_store_a_score_at_once(app_db: str, engine: Engine) -> None:
    j = judged(engine)
    with Session(engine) as s, s.begin():
        spec = QueueSpec(name="whole", size=2, unit=ItemUnit.response)
        create_queue(s, j.world.users["erin"], spec)
    at = app_as(j.uid("ann"), "views/spotcheck.py")
    seven = widget(at, "button", "7")
    assert seven.proto.shortcut == "7" and widget(at, "button", "10").proto.shortcut == "0"
    click(at, "7")
    assert mets(engine) == [(None, 7)]
    assert shown(at, "success", "Your label is stored: score 7.")


def test_an_annotator_changes_keys_and_goes_straight_on(app_db: str, engine: Engine) -> None:
    j = judged(engine, queue_size=3)
    at = app_as(j.uid("ann"), "views/spotcheck.py")
    # A key given twice is refused with the reason; nothing is stored.
    widget(at, "text_input", "Met").set_value("n")
    click(at, "Save keys")
    assert shown(at, "error", "'n' is given to both met and not met")
    widget(at, "text_input", "Met").set_value("r")
    click(at, "Save keys")
    assert shown(at, "error", "Streamlit's own key")
    with Session(engine) as s:
        assert label_keys(s, j.world.users["ann"]) == LabelKeys()
    widget(at, "text_input", "Met").set_value("j")
    widget(at, "text_input", "Not met").set_value("k")
    at.toggle[0].set_value(False)
    click(at, "Save keys")
    assert shown(at, "success", "Your keys are saved.")
    met = widget(at, "button", "Met")
    assert met.proto.shortcut == "j" and widget(at, "button", "Not met").proto.shortcut == "k"
    first = at.session_state["spot:item"].position
    click(at, "Met")
    # No verdict in between: the next item is on screen, the label said in a notice.
    assert shown(at, "success", f"Your label on item {first} is stored: met.")
    assert at.session_state["spot:item"].position == first + 1
    assert not shown(at, "markdown", "What the judge said")
    click(at, "Not met")
    assert mets(engine) == [(True, None), (False, None)]
    click(at, "Back to the defaults")
    with Session(engine) as s:
        assert label_keys(s, j.world.users["ann"]) == LabelKeys()


def test_own_labels_are_narrowed_by_answer_and_changed_there(app_db: str, engine: Engine) -> None:
    j = judged(engine, queue_size=4)
    at = app_as(j.uid("ann"), "views/spotcheck.py")
    for name in ("Met", "Skip"):
        click(at, name)
        click(at, "Next item")
    assert [t.label for t in at.tabs] == ["Label", "Your labels (2)", "Keys"]
    assert len(at.dataframe[-1].value) == 2
    widget(at, "radio", "Show").set_value("Skipped")
    at.run()
    assert list(at.dataframe[-1].value["Your label"]) == ["skipped"]
    choice = widget(at, "selectbox", "Label to change")
    choice.set_value(choice.options[0])
    at.run()
    next(w for w in at.segmented_control if w.label == "New label").set_value("Not met")
    at.run()
    click(at, "Save change")
    assert shown(at, "success", "Your label on item 2 was changed.")
    assert mets(engine) == [(True, None), (False, None)]
    widget(at, "radio", "Show").set_value("With a note")
    at.run()
    assert shown(at, "caption", "None of your labels in this queue: with a note.")
