"""Unsaved editor edits survive navigating away; the navigation says they
are there; "Discard changes" drops them; rows that cannot be restored are shown."""

from __future__ import annotations

from typing import Any

import pytest
from rubricforge.models.rubrics.authoring import load_editor_state
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest
from webapp_support import app_as, click, prompt_id, shown, user_id, widget

pytestmark = pytest.mark.db


def editor(url: str, external_id: str) -> AppTest:
    query = {"prompt": str(prompt_id(url, external_id))}
    return app_as(user_id(url, "expert1"), "views/editor.py", query)


def edit(at: AppTest, **changes: Any) -> AppTest:
    """What the expert does in the table (AppTest cannot type into st.data_editor)."""
    at.session_state[at.data_editor[0].key] = {
        "edited_rows": {},
        "added_rows": [],
        "deleted_rows": [],
    } | changes
    at.run()
    assert not at.exception, at.exception
    return at


def go(at: AppTest, page: str, prompt: int | None = None) -> AppTest:
    if prompt is not None:
        at.query_params["prompt"] = str(prompt)
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def weights(at: AppTest) -> list[float]:
    return list(at.data_editor[0].value["weight"])


def unsaved_links(at: AppTest) -> list[str]:
    return [str(p.proto.label) for p in at.sidebar.get("page_link")]


def head_version(url: str, external_id: str) -> int | None:
    eng = create_engine(url)
    with Session(eng) as s:
        state = load_editor_state(s, prompt_id(url, external_id))
    eng.dispose()
    return state.head_version_number


def test_edits_come_back_after_visiting_another_page(demo_app_db: str) -> None:
    at = editor(demo_app_db, "med-004")
    saved_weights = weights(at)
    assert unsaved_links(at) == []
    edit(at, edited_rows={3: {"weight": 4}}, added_rows=[
        {"title": "Checks potassium", "description": "Asks for a potassium level.",
         "category": "Important", "weight": 3}])  # fmt: skip
    go(at, "views/prompts.py")
    assert unsaved_links(at) == ["Unsaved changes: demo-medicine / med-004"]
    go(at, "views/editor.py")
    assert weights(at)[3] == 4 and weights(at)[:3] == saved_weights[:3]
    assert list(at.data_editor[0].value["title"])[-1] == "Checks potassium"
    assert widget(at, "button", "Save version").disabled is False
    # Saving what came back is an ordinary save; nothing is unsaved afterwards.
    widget(at, "text_input", "Note for this version").input("restored edits")
    click(at, "Save version")
    assert shown(at, "success", "Saved version 2.")
    assert head_version(demo_app_db, "med-004") == 2
    go(at, "views/prompts.py")
    assert unsaved_links(at) == []


def test_discard_changes_drops_the_edits(demo_app_db: str) -> None:
    at = editor(demo_app_db, "med-004")
    saved_weights = weights(at)
    assert widget(at, "button", "Discard changes").disabled
    edit(at, edited_rows={0: {"weight": 1}})
    click(at, "Discard changes")
    assert shown(at, "success", "Your unsaved changes were discarded.")
    assert weights(at) == saved_weights
    assert widget(at, "button", "Save version").disabled
    go(at, "views/prompts.py")
    assert unsaved_links(at) == []
    go(at, "views/editor.py")
    assert weights(at) == saved_weights
    assert head_version(demo_app_db, "med-004") == 1


def test_each_prompt_keeps_its_own_edits(demo_app_db: str) -> None:
    at = editor(demo_app_db, "med-004")
    edit(at, edited_rows={0: {"weight": 1}})
    other = prompt_id(demo_app_db, "med-005")
    go(at, "views/editor.py", other)
    before = weights(at)
    edit(at, edited_rows={1: {"weight": -1}})
    go(at, "views/prompts.py")
    assert sorted(unsaved_links(at)) == [
        "Unsaved changes: demo-medicine / med-004",
        "Unsaved changes: demo-medicine / med-005",
    ]
    go(at, "views/editor.py", prompt_id(demo_app_db, "med-004"))
    assert weights(at)[0] == 1
    go(at, "views/editor.py", other)
    assert weights(at)[1] == -1 and weights(at)[0] == before[0]


def test_rows_that_cannot_be_restored_are_shown_not_dropped(demo_app_db: str) -> None:
    at = editor(demo_app_db, "med-004")
    saved_weights = weights(at)
    # A half-typed row: a description but no title yet.
    edit(at, added_rows=[{"description": "Half typed thought about sodium", "weight": 2}])
    go(at, "views/prompts.py")
    go(at, "views/editor.py")
    assert shown(at, "warning", "had rows that cannot become criteria")
    assert "Half typed thought about sodium" in str(at.json[0].value)
    assert weights(at) == saved_weights
    click(at, "Dismiss my earlier edits")
    assert not at.json
