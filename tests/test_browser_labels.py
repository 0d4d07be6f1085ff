"""In a real Chromium, label keys typed faster than the app reruns are never
lost silently. Enter then N within a few milliseconds either labels the next item
(if it was on screen by then) or says that N was not stored; nothing in between."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import StreamlitApp, chromium, sign_in, wait_idle
from judging_support import judged
from playwright.sync_api import Page, expect
from rubricforge.models.accounts.auth import set_password
from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.agreement.orm import HumanLabel
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

pytestmark = [pytest.mark.db, pytest.mark.browser]
PASSWORD = "correct horse battery"
REFUSED = "was pressed before the next item was on screen"


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("no Chromium at /usr/bin/chromium")
    with chromium(tmp_path) as p:
        yield p


def stored(engine: Engine) -> list[bool | None]:
    with Session(engine) as s:
        return list(s.scalars(select(HumanLabel.met).order_by(HumanLabel.id)))


def test_fast_keys_are_stored_or_refused_visibly(
    db_url: str, engine: Engine, page: Page, tmp_path: Path
) -> None:
    judged(engine, queue_size=4)
    with Session(engine) as s, s.begin():
        set_password(s, "ann", PASSWORD, actor=OPERATOR)
    app = StreamlitApp({"DATABASE_URL": db_url}, tmp_path / "streamlit.log")
    try:
        sign_in(page, app, "ann", PASSWORD)
        page.get_by_role("link", name="Spot-check").click()
        expect(page.get_by_text("left for you, this one included")).to_be_visible()
        wait_idle(page)
        page.keyboard.press("m")
        expect(page.get_by_text("Your label is stored: met.")).to_be_visible()
        wait_idle(page)

        page.keyboard.press("Enter")
        page.keyboard.press("n")  # a few ms later, while the app reruns
        expect(page.get_by_text("left for you, this one included")).to_be_visible()
        refused = page.get_by_text(REFUSED)
        labelled = page.get_by_text("Your label is stored: not met.")
        expect(refused.or_(labelled)).to_be_visible()
        wait_idle(page)
        page.screenshot(path=str(tmp_path / "fast-keys.png"))
        if refused.count():
            assert stored(engine) == [True]  # refused, and the page said so
            expect(page.get_by_role("button", name="Not met")).to_be_visible()
        else:
            assert stored(engine) == [True, False]  # the next item was on screen: stored

        # With a verdict on screen, N alone is a key for the next item: refused visibly.
        if not refused.count():
            page.keyboard.press("n")
            expect(page.get_by_text(REFUSED)).to_be_visible()
            assert stored(engine) == [True, False]
    finally:
        app.stop()
