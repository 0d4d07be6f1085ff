"""How many interactions and how long an expert needs to curate one imported
rubric end to end, at a laptop's 1366x768: open it from Prompts, fix the flagged
pitfall, add a criterion, save, submit for review. Chromium drives the real app.

Every click, key press and filled field goes through `Meter`, so the counts are
what a person would do; the test prints them (README, "Curating at volume") and
asserts a ceiling, and that the rubric was saved and submitted as typed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from browser import ROW_HEIGHT, StreamlitApp, chromium, sign_in, wait_idle
from playwright.sync_api import Locator, Page, expect
from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.data.importer import import_file
from rubricforge.models.rubrics.authoring import load_editor_state
from rubricforge.models.rubrics.orm import Category, RubricStatus
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from webapp_support import PASSWORD, prompt_id

pytestmark = [pytest.mark.db, pytest.mark.browser, pytest.mark.slow]
UID = "med-01884518e6c7"  # its last criterion, a pitfall worded "Avoids ...", is flagged
LAPTOP = {"width": 1366, "height": 768}
FIXED_TITLE = "Suggests Trachoma"
FIXED_DESCRIPTION = "Suggests (A) Trachoma without differentiating it from vernal disease."
NEW_TITLE = "Names Giant Papillae Sign"
NEW_DESCRIPTION = "States that cobblestone giant papillae are the hallmark sign."


@dataclass
class Meter:
    """Counts what the user does: clicks, special keys, and fields typed into."""

    page: Page
    clicks: int = 0
    keys: int = 0
    fields: int = 0
    log: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.clicks + self.keys + self.fields

    def click(self, target: Locator, **kwargs: object) -> None:
        target.click(**kwargs)  # type: ignore[arg-type]
        self.clicks += 1
        self.log.append("click")

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)
        self.keys += 1
        self.log.append(key)

    def fill(self, target: Locator, text: str) -> None:
        target.fill(text)
        self.fields += 1
        self.log.append("type")


@pytest.fixture
def app(demo_app_db: str, rar_sample: Path, tmp_path: Path) -> Iterator[StreamlitApp]:
    eng = create_engine(demo_app_db)
    import_file(eng, rar_sample, "rar-medicine", actor=OPERATOR)
    eng.dispose()
    env = {"DATABASE_URL": demo_app_db, "RUBRICFORGE_HOME": str(tmp_path / "home")}
    server = StreamlitApp(env, tmp_path / "streamlit.log")
    yield server
    server.stop()


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    with chromium(tmp_path, LAPTOP) as p:
        yield p


def grid_cell(m: Meter, row: int, x: float, right: int, value: str) -> None:
    """Type into a cell of the criteria grid as a user does: click, arrow keys,
    Enter, type, Enter (the grid is a canvas; its cell editor is in the DOM)."""
    page = m.page
    grid = page.get_by_test_id("stDataFrame").first
    cell_editor = page.get_by_test_id("portal").locator("input.gdg-input, textarea")
    m.click(grid, position={"x": x, "y": ROW_HEIGHT * (row + 1) + ROW_HEIGHT / 2})
    for _ in range(right):
        m.press("ArrowRight")
    m.press("Enter")
    expect(cell_editor).to_be_visible(timeout=5_000)
    m.fill(cell_editor, value)
    cell_editor.press("Enter")
    m.keys += 1
    expect(cell_editor).to_have_count(0)
    wait_idle(page)


def type_in_cell(m: Meter, value: str) -> None:
    """Enter on the selected cell, type, Enter (a dropdown cell: type, pick the option)."""
    page = m.page
    portal = page.get_by_test_id("portal")
    m.press("Enter")
    editor = portal.locator("input, textarea").first
    expect(editor).to_be_visible(timeout=5_000)
    m.fill(editor, value)
    editor.press("Enter")
    m.keys += 1
    expect(portal.locator("input, textarea")).to_have_count(0)
    wait_idle(page)


def curate(m: Meter) -> None:
    """The flow on the editor before issue 12: search, pick, open; fix the flagged
    pitfall in the grid's cells; add a row and type its four cells; save; submit."""
    page = m.page
    m.click(page.get_by_role("link", name="Prompts"))
    expect(page.get_by_role("heading", name="Prompts")).to_be_visible()
    m.fill(page.get_by_role("textbox", name="Search"), UID)
    m.press("Enter")
    wait_idle(page)
    box = page.get_by_role("combobox", name="Open a prompt")
    m.click(box)
    m.click(page.get_by_role("option").filter(has_text=UID).first)
    expect(page.get_by_role("button", name="Edit rubric")).to_be_visible()
    m.click(page.get_by_role("button", name="Edit rubric"))
    expect(page.get_by_role("heading", name="Rubric editor")).to_be_visible()
    wait_idle(page)
    # Row 9 is the flagged pitfall: title, then description one cell to the right.
    grid_cell(m, 8, 100, 0, FIXED_TITLE)
    grid_cell(m, 8, 100, 1, FIXED_DESCRIPTION)
    # A new row: the grid's "Add row" button; the grid scrolls to the new last row.
    # Click its title cell, then type each cell and move right with the arrow key.
    grid = page.get_by_test_id("stDataFrame").first
    grid.hover()
    m.click(page.get_by_role("button", name="Add row"))
    wait_idle(page)
    box = grid.bounding_box()
    assert box is not None
    m.click(grid, position={"x": 60, "y": box["height"] - ROW_HEIGHT / 2})
    for i, value in enumerate([NEW_TITLE, NEW_DESCRIPTION, Category.important.value, "3"]):
        if i:
            m.press("ArrowRight")
        type_in_cell(m, value)
    m.fill(page.get_by_role("textbox", name="Note for this version"), "Pitfall reworded")
    m.click(page.get_by_role("button", name="Save version"))
    expect(page.get_by_text("Saved version 2.")).to_be_visible()
    m.click(page.get_by_role("button", name="Submit for review"))
    expect(page.get_by_text("Submitted for review (version 2).")).to_be_visible()


def test_curating_one_imported_rubric(
    page: Page, app: StreamlitApp, demo_app_db: str, tmp_path: Path
) -> None:
    sign_in(page, app, "expert1", PASSWORD)
    wait_idle(page)
    m = Meter(page)
    start = time.monotonic()
    try:
        curate(m)
    finally:
        page.screenshot(path=tmp_path / "curated.png", full_page=True)
    seconds = time.monotonic() - start
    print(
        f"\ncurate one rubric at 1366x768: {m.total} interactions "
        f"({m.clicks} clicks, {m.keys} keys, {m.fields} fields typed), {seconds:.1f} s"
    )

    eng = create_engine(demo_app_db)
    with Session(eng) as s:
        state = load_editor_state(s, prompt_id(demo_app_db, UID))
    eng.dispose()
    print("\n".join(str(c.canonical()) for c in state.criteria))
    assert state.status is RubricStatus.in_review and state.head_version_number == 2
    by_title = {c.title: c for c in state.criteria}
    assert "Avoids Trachoma Misidentification" not in by_title
    assert by_title[FIXED_TITLE].description == FIXED_DESCRIPTION
    assert by_title[FIXED_TITLE].weight == -2 and not by_title[FIXED_TITLE].flags
    assert NEW_TITLE in by_title, "\n".join(str(c.canonical()) for c in state.criteria)
    new = by_title[NEW_TITLE]
    assert (new.description, new.category, new.weight) == (
        NEW_DESCRIPTION, Category.important, 3,
    )  # fmt: skip
    assert len(state.criteria) == 10
