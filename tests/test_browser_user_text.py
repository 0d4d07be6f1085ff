"""User text is shown as typed, never as HTML or markdown, in a real Chromium.

A prompt, its criteria, a response, a judge rationale and an annotator's note all
carry HTML (a script, an image with onerror), a javascript: link and markdown; the
pages that show them (spot-check before and after the reveal, prompts, editor)
must neither run nor render any of it, and must show the text itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import StreamlitApp, chromium, sign_in, sign_out, wait_idle
from judging_support import judged
from playwright.sync_api import Page, expect
from rubricforge.models.accounts.auth import set_password
from rubricforge.models.accounts.permissions import OPERATOR
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

pytestmark = [pytest.mark.db, pytest.mark.browser]
PASSWORD = "correct horse battery"
HOSTILE = (
    '<img src="x" onerror="window.__xss=1"><script>window.__xss=2</script>'
    " [click me](javascript:window.__xss=3) **not bold** XSS-MARK"
)


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    with chromium(tmp_path) as p:
        yield p


def nothing_ran_or_rendered(page: Page, *, shown_as_text: bool = True) -> None:
    wait_idle(page)
    assert page.evaluate("window.__xss") is None
    assert page.locator('img[src="x"]').count() == 0
    assert page.locator('a[href^="javascript"]').count() == 0
    assert page.locator("strong", has_text="not bold").count() == 0
    if shown_as_text:  # (tables draw their cells on a canvas)
        # The text itself is on the page, markup characters and all.
        shown = page.get_by_text("<script>window.__xss=2</script>")
        assert any(shown.nth(i).is_visible() for i in range(shown.count()))


def open_page(page: Page, name: str) -> None:
    page.get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", name=name).first).to_be_visible()
    wait_idle(page)


def test_hostile_user_text_is_shown_as_text(
    db_url: str, engine: Engine, page: Page, tmp_path: Path
) -> None:
    judged(engine, queue_size=4)
    with Session(engine) as s, s.begin():
        # Test data only: every kind of user and LLM text becomes the payload.
        s.execute(text("UPDATE prompts SET question = :t, reference_answer = :t"), {"t": HOSTILE})
        s.execute(text("UPDATE criteria SET title = :t, description = :t"), {"t": HOSTILE})
        s.execute(text("UPDATE responses SET text = :t"), {"t": HOSTILE})
        s.execute(text("UPDATE verdicts SET rationale = :t"), {"t": HOSTILE})
        for name in ("ann", "erin"):
            set_password(s, name, PASSWORD, actor=OPERATOR)
    app = StreamlitApp({"DATABASE_URL": db_url}, tmp_path / "streamlit.log")
    try:
        sign_in(page, app, "ann", PASSWORD)
        open_page(page, "Spot-check")
        expect(page.get_by_text("left for you, this one included")).to_be_visible()
        nothing_ran_or_rendered(page)  # prompt, response, criterion
        page.get_by_role("textbox", name="Note (optional)").fill(HOSTILE)
        page.get_by_role("textbox", name="Note (optional)").press("Tab")
        wait_idle(page)
        page.get_by_role("button", name="Met").first.click()
        expect(page.get_by_text("Your label is stored: met.")).to_be_visible()
        nothing_ran_or_rendered(page)  # the rationale and the note, revealed
        sign_out(page)  # wait for the sign-in form: a goto racing the sign-out is aborted

        sign_in(page, app, "erin", PASSWORD)
        open_page(page, "Prompts")
        nothing_ran_or_rendered(page, shown_as_text=False)
        open_page(page, "Agreement")  # the drill-down quotes responses and rationales
        nothing_ran_or_rendered(page, shown_as_text=False)
    finally:
        app.stop()


def test_no_page_asks_streamlit_to_render_html() -> None:
    webapp = Path(__file__).resolve().parent.parent / "webapp"
    for path in webapp.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        for needle in ("unsafe_allow_html", "st.html(", "components.html(", "components.v1"):
            assert needle not in source, f"{path.relative_to(webapp)} uses {needle}"
