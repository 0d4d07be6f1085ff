"""Curating at volume in the app (AppTest on the demo workspace): the
grid's polarity and check columns, numbering that follows deletes, the Add
criterion form, filters kept across pages, awaiting my review, previous/next."""

from __future__ import annotations

from typing import Any

import pytest
from rubricforge.models.rubrics.criteria import polarity
from streamlit.testing.v1 import AppTest
from webapp_support import app_as, click, prompt_id, shown, user_id, widget

pytestmark = pytest.mark.db


def editor(url: str, external_id: str, username: str = "expert1") -> AppTest:
    pid = prompt_id(url, external_id)
    return app_as(user_id(url, username), "views/editor.py", {"prompt": str(pid)})


def edit(at: AppTest, **changes: Any) -> AppTest:
    state = {"edited_rows": {}, "added_rows": [], "deleted_rows": []} | changes
    at.session_state[at.data_editor[0].key] = state
    at.run()
    assert not at.exception, at.exception
    return at


def grid(at: AppTest) -> Any:
    return at.data_editor[0].value


def test_the_grid_shows_polarity_and_each_rows_checks(demo_app_db: str) -> None:
    at = editor(demo_app_db, "med-004")
    rows = grid(at)
    assert list(rows.columns) == [
        "position", "title", "description", "category", "weight", "polarity", "check",
    ]  # fmt: skip
    assert list(rows["polarity"]) == [polarity(w) for w in rows["weight"]]
    # Row 1 made a Pitfall with a positive weight: its row says so in the grid.
    edit(at, edited_rows={0: {"category": "Pitfall"}})
    rows = grid(at)
    assert rows["category"][0] == "Pitfall"
    assert rows["check"][0].startswith("error: weight has the wrong sign")
    edit(at, edited_rows={0: {"weight": -1}})
    rows = grid(at)
    assert rows["polarity"][0] == "bad when met" and rows["check"][0] == ""
    assert rows["category"][0] == "Pitfall"  # the earlier edit stuck


def test_deleting_a_row_keeps_the_lint_rows_aligned_with_the_grid(demo_app_db: str) -> None:
    at = editor(demo_app_db, "med-004")
    before = list(grid(at)["title"])
    edit(at, edited_rows={4: {"weight": -3}})  # an Important row with a negative weight
    findings = at.dataframe[1].value
    sign = findings[findings["Finding"].str.contains("needs a positive weight")].iloc[0]
    assert sign["Row"] == "5"
    edit(at, deleted_rows=[1])
    rows = grid(at)
    assert list(rows["title"]) == before[:1] + before[2:]
    assert list(rows["position"]) == list(range(1, len(before)))
    findings = at.dataframe[1].value
    sign = findings[findings["Finding"].str.contains("needs a positive weight")].iloc[0]
    assert sign["Row"] == "4" and rows["check"][3].startswith("error")
    assert f"#4 ({before[4]})" in sign["Finding"]
    assert not widget(at, "button", "Save version").disabled


def test_the_add_criterion_form_appends_with_the_categorys_weight(demo_app_db: str) -> None:
    at = editor(demo_app_db, "med-004")
    n = len(grid(at))
    edit(at, edited_rows={0: {"title": "Renamed first"}})  # unsaved edits stay too
    widget(at, "text_input", "New criterion title").set_value("Checks potassium")
    widget(at, "text_area", "New criterion description").set_value(
        "Orders a potassium level\x00 within a week."
    )
    widget(at, "selectbox", "New criterion category").set_value("Important")
    click(at, "Add criterion")
    rows = grid(at)
    assert len(rows) == n + 1 and rows["title"][0] == "Renamed first"
    last = rows.iloc[-1]
    assert (last["title"], last["category"], last["weight"]) == ("Checks potassium", "Important", 3)
    assert "\x00" not in last["description"]
    assert shown(at, "success", f"Added criterion {n + 1}.")
    assert widget(at, "text_input", "New criterion title").value == ""
    assert not widget(at, "button", "Save version").disabled


def test_a_bad_new_criterion_is_refused_and_nothing_changes(demo_app_db: str) -> None:
    at = editor(demo_app_db, "med-004")
    n = len(grid(at))
    widget(at, "text_input", "New criterion title").set_value("Only a title")
    widget(at, "number_input", "New criterion weight").set_value(500.0)
    click(at, "Add criterion")
    assert len(grid(at)) == n
    assert shown(at, "error", "the description is blank")
    assert shown(at, "error", "outside -100..100")
    assert widget(at, "button", "Save version").disabled


def test_filters_are_kept_across_pages_and_lead_previous_and_next(demo_app_db: str) -> None:
    at = app_as(user_id(demo_app_db, "expert1"), "views/prompts.py")
    widget(at, "selectbox", "Dataset").set_value("demo-medicine")
    at.run()
    listed = list(at.dataframe[0].value["ID"])
    assert len(listed) >= 2 and all(i.startswith("med-") for i in listed)
    at.switch_page("views/overview.py").run()
    at.switch_page("views/prompts.py").run()
    assert widget(at, "selectbox", "Dataset").value == "demo-medicine"
    assert list(at.dataframe[0].value["ID"]) == listed
    # The editor steps through the same listing.
    at.query_params["prompt"] = str(prompt_id(demo_app_db, listed[0]))
    at.switch_page("views/editor.py").run()
    assert widget(at, "button", "Previous prompt").disabled
    click(at, "Next prompt")
    assert at.subheader[0].value == f"demo-medicine / {listed[1]}"
    click(at, "Previous prompt")
    assert at.subheader[0].value == f"demo-medicine / {listed[0]}"


def test_awaiting_my_review(demo_app_db: str) -> None:
    at = app_as(user_id(demo_app_db, "expert2"), "views/prompts.py")
    widget(at, "toggle", "Awaiting my review").set_value(True)
    at.run()
    assert not at.exception
    statuses = set(at.dataframe[0].value["Status"])
    assert statuses <= {"In review"}
