"""Unsaved editor edits survive a reload (a new Streamlit session): they are kept
on the server per user and prompt, come back in the table, are listed in the
navigation, and Save or Discard clears them. Nobody else sees them."""

from __future__ import annotations

import pytest
from rubricforge.models.rubrics.orm import EditorDraft
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session
from test_webapp_unsaved import edit, editor, head_version, unsaved_links, weights
from webapp_support import app_as, click, prompt_id, shown, user_id, widget

pytestmark = pytest.mark.db


def kept(url: str) -> int:
    eng = create_engine(url)
    with Session(eng) as s:
        n = s.scalar(select(func.count()).select_from(EditorDraft)) or 0
    eng.dispose()
    return n


def test_edits_survive_a_reload_and_discard_drops_them(demo_app_db: str) -> None:
    at = editor(demo_app_db, "med-004")
    saved_weights = weights(at)
    edit(at, edited_rows={3: {"weight": 4}}, added_rows=[
        {"title": "Checks potassium", "description": "Asks for a potassium level.",
         "category": "Important", "weight": 3}])  # fmt: skip
    assert kept(demo_app_db) == 1

    again = editor(demo_app_db, "med-004")  # a new session: what a reload (F5) starts
    assert shown(again, "info", "Restored your unsaved edits from")
    assert weights(again)[3] == 4 and weights(again)[:3] == saved_weights[:3]
    assert list(again.data_editor[0].value["title"])[-1] == "Checks potassium"
    assert unsaved_links(again) == ["Unsaved changes: demo-medicine / med-004"]
    assert widget(again, "button", "Save version").disabled is False

    # Another expert sees none of it.
    other = app_as(user_id(demo_app_db, "expert2"), "views/editor.py",
                   {"prompt": str(prompt_id(demo_app_db, "med-004"))})  # fmt: skip
    assert weights(other) == saved_weights and unsaved_links(other) == []

    click(again, "Discard changes")
    assert weights(again) == saved_weights
    assert kept(demo_app_db) == 0
    third = editor(demo_app_db, "med-004")
    assert weights(third) == saved_weights and unsaved_links(third) == []
    assert not shown(third, "info", "Restored your unsaved edits")


def test_saving_clears_the_kept_edits(demo_app_db: str) -> None:
    at = editor(demo_app_db, "med-004")
    edit(at, edited_rows={0: {"weight": 1}})
    at = editor(demo_app_db, "med-004")
    assert weights(at)[0] == 1
    widget(at, "text_input", "Note for this version").input("after a reload")
    click(at, "Save version")
    assert shown(at, "success", "Saved version 2.")
    assert kept(demo_app_db) == 0
    assert head_version(demo_app_db, "med-004") == 2


def test_edits_made_on_an_older_version_come_back_with_the_merge_offer(
    demo_app_db: str,
) -> None:
    at = editor(demo_app_db, "med-004")
    edit(at, edited_rows={0: {"weight": 1}})
    # Someone else saves a version meanwhile.
    theirs = app_as(user_id(demo_app_db, "expert2"), "views/editor.py",
                    {"prompt": str(prompt_id(demo_app_db, "med-004"))})  # fmt: skip
    edit(theirs, edited_rows={1: {"weight": -1}})
    widget(theirs, "text_input", "Note for this version").input("theirs")
    click(theirs, "Save version")
    assert head_version(demo_app_db, "med-004") == 2

    mine = editor(demo_app_db, "med-004")
    assert weights(mine)[0] == 1  # my edits are back, on the version I made them on
    assert shown(mine, "warning", "Someone else saved this rubric after you opened it")
    click(mine, "Keep my edits on top of the latest")
    assert weights(mine)[0] == 1  # mine, now on top of the latest (merged by hand)
    widget(mine, "text_input", "Note for this version").input("merged")
    click(mine, "Save version")
    assert shown(mine, "success", "Saved version 3.")
    assert kept(demo_app_db) == 0
