"""The authoring story in a real browser: Chromium drives the real app served by
`streamlit run`, on a test database, drafting through the local scripted LLM.

An expert drafts a rubric with the LLM, edits a criterion's weight in the grid,
saves, reads the diff and submits; a second expert approves; an annotator finds
the editor read-only. Screenshots of every step go to the test's tmp folder;
the editor and the diff also to docs/screenshots/ for the README's tour.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import (  # noqa: F401
    REPO,
    StreamlitApp,
    choose,
    chromium,
    edit_cell,
    publish_screenshot,
    sign_in,
    sign_out,
    wait_idle,
)
from llm_server import Reply, ScriptedLLM, rubric_items
from playwright.sync_api import Page, expect
from rubricforge.models.accounts.auth import set_password
from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.core.db import session_scope
from rubricforge.models.demo.loader import load_demo
from rubricforge.models.llm.endpoints import save_endpoint
from rubricforge.models.rubrics.authoring import list_versions, load_editor_state
from rubricforge.models.rubrics.orm import Prompt, RubricStatus, VersionSource
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

pytestmark = [pytest.mark.db, pytest.mark.browser, pytest.mark.slow]
PASSWORD = "correct horse battery"


@pytest.fixture
def served(db_url: str, llm_server: ScriptedLLM, tmp_path: Path) -> Iterator[StreamlitApp]:
    eng = create_engine(db_url)
    load_demo(eng)
    with session_scope(eng) as s:
        for name in ("expert1", "expert2", "annotator1"):
            set_password(s, name, PASSWORD, actor=OPERATOR)
        save_endpoint(s, OPERATOR, "local model", base_url=llm_server.base_url,
                      model="qwen-local", api_key_env=None)  # fmt: skip
    eng.dispose()
    llm_server.respond_with(lambda _body: Reply.json(rubric_items(8)))
    app = StreamlitApp({"DATABASE_URL": db_url}, tmp_path / "streamlit.log")
    yield app
    app.stop()


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    with chromium(tmp_path, {"width": 1920, "height": 2000}) as p:
        yield p


def open_prompt(page: Page, external_id: str, button: str, address: str | None = None) -> None:
    """Through the sidebar's Prompts link, or by the page's `address` (an annotator's menu
    leaves Prompts out; the page still opens, read-only)."""
    if address:
        page.goto(address)
    else:
        page.get_by_role("link", name="Prompts").click()
    expect(page.get_by_role("heading", name="Prompts")).to_be_visible()
    choose(page, "Open a prompt", external_id)
    page.get_by_role("button", name=button).click()
    expect(page.get_by_role("heading", name="Rubric editor")).to_be_visible()
    wait_idle(page)


def test_expert_drafts_edits_saves_and_a_colleague_approves(
    served: StreamlitApp, page: Page, db_url: str, tmp_path: Path
) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()

    def shot(name: str) -> Path:
        wait_idle(page)
        path = shots / f"{name}.png"
        page.screenshot(path=path, full_page=True)
        return path

    sign_in(page, served, "expert1", PASSWORD)
    # The viewer toolbar: no Deploy button or developer menu for the people using the app.
    expect(page.get_by_role("button", name="Deploy")).to_have_count(0)
    shot("01-overview")
    open_prompt(page, "med-007", "Edit rubric")
    page.get_by_role("button", name="Draft with LLM").click()
    expect(page.get_by_text("Saved the draft as version 1 (8 criteria).")).to_be_visible()
    shot("02-drafted")

    # Row 2 ("Important point 2", weight 4): click its title cell, move right to weight.
    assert edit_cell(page, 0, row=1, x=160, right=3, value="3") == "4"
    expect(page.get_by_text("Unsaved changes")).to_be_visible()
    note = page.get_by_role("textbox", name="Note for this version")
    expect(note).to_have_count(1)  # the rerun's stale copy is gone
    note.fill("Point 2 matters less")
    shot("03-edited")
    page.get_by_role("button", name="Save version").click()
    expect(page.get_by_text("Saved version 2.")).to_be_visible()
    wait_idle(page)  # until the rerun has dropped the previous run's buttons
    expect(page.get_by_role("button", name="Submit for review")).to_have_count(1)
    expect(page.get_by_role("textbox", name="Note for this version")).to_have_value("")
    editor_png = shot("04-saved")

    page.get_by_role("link", name="Version history and diffs").click()
    expect(page.get_by_text("version 1 → version 2: 1 changed")).to_be_visible()
    expect(page.get_by_text("No review steps yet.")).to_be_visible()
    diff_png = shot("05-diff")
    page.get_by_role("link", name="Open in the editor").click()
    page.get_by_role("button", name="Submit for review").click()
    expect(page.get_by_text("Submitted for review (version 2).")).to_be_visible()
    expect(page.get_by_text("You wrote version 2, so another expert reviews it.")).to_be_visible()
    shot("06-submitted")
    sign_out(page)

    sign_in(page, served, "expert2", PASSWORD)
    open_prompt(page, "med-007", "Edit rubric")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("Approved (version 2).")).to_be_visible()
    shot("07-approved")
    sign_out(page)

    sign_in(page, served, "annotator1", PASSWORD)
    expect(page.get_by_role("link", name="Prompts")).to_have_count(0)  # not in their menu
    open_prompt(page, "med-007", "Open in editor", address=f"{served.url}/prompts")
    expect(page.get_by_text("Read-only: your role (annotator) may read rubrics")).to_be_visible()
    expect(page.get_by_role("button", name="Save version")).to_have_count(0)
    shot("08-read-only")

    eng = create_engine(db_url)
    with Session(eng) as s:
        pid = s.scalars(select(Prompt.id).where(Prompt.external_id == "med-007")).one()
        state = load_editor_state(s, pid)
        versions = list_versions(s, state.rubric_id or 0)
    eng.dispose()
    assert state.status is RubricStatus.approved
    assert state.approved_version_id == versions[0].id
    v2, v1 = versions
    assert (v1.source, v1.llm_model, v2.source, v2.note) == (
        VersionSource.llm, "qwen-local", VersionSource.human, "Point 2 matters less",
    )  # fmt: skip
    assert [c.weight for c in v1.criteria][1] == 4 and [c.weight for c in v2.criteria][1] == 3
    assert [c.weight for c in v2.criteria[2:]] == [c.weight for c in v1.criteria[2:]]
    assert len(list(shots.glob("*.png"))) == 8

    publish_screenshot(editor_png, "editor.png")
    publish_screenshot(diff_png, "diff.png")
