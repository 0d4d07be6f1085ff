"""In a real Chromium: an edit left unsaved in the editor is still there after
a reload (F5), kept on the server, and the page says it restored it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import StreamlitApp, chromium, edit_cell, sign_in, wait_idle
from playwright.sync_api import Page, expect
from rubricforge.models.rubrics.authoring import load_editor_state
from rubricforge.models.rubrics.orm import EditorDraft
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session
from webapp_support import PASSWORD, prompt_id

pytestmark = [pytest.mark.db, pytest.mark.browser]


@pytest.fixture
def app(demo_app_db: str, tmp_path: Path) -> Iterator[StreamlitApp]:
    env = {"DATABASE_URL": demo_app_db, "RUBRICFORGE_HOME": str(tmp_path / "home")}
    server = StreamlitApp(env, tmp_path / "streamlit.log")
    yield server
    server.stop()


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    with chromium(tmp_path) as p:
        yield p


def test_an_unsaved_edit_survives_a_reload(page: Page, app: StreamlitApp, demo_app_db: str) -> None:
    pid = prompt_id(demo_app_db, "med-004")
    eng = create_engine(demo_app_db)
    with Session(eng) as s:
        weight = load_editor_state(s, pid).criteria[0].weight
    new = "1" if weight != 1 else "2"

    sign_in(page, app, "expert1", PASSWORD)
    page.goto(f"{app.url}/editor?prompt={pid}")
    expect(page.get_by_role("heading", name="Rubric editor")).to_be_visible()
    wait_idle(page)
    # Row 1: its title cell, then right to the weight.
    assert edit_cell(page, 0, row=0, x=160, right=3, value=new) == f"{weight:g}"
    expect(page.get_by_role("button", name="Discard changes")).to_be_enabled()
    with Session(eng) as s:
        assert s.scalar(select(func.count()).select_from(EditorDraft)) == 1

    page.reload()
    expect(page.get_by_text("Restored your unsaved edits from")).to_be_visible()
    wait_idle(page)
    expect(page.get_by_role("button", name="Save version")).to_be_enabled()
    # The cell holds the edit: opening it shows the value typed before the reload.
    assert edit_cell(page, 0, row=0, x=160, right=3, value=new) == new
    eng.dispose()
