"""Labelling at volume, measured: an annotator signs in and labels 20 spot-check items
of the demo workspace by keyboard in a real Chromium. The test counts the mouse clicks
and key presses after sign-in and times the whole run; it prints them (README,
"Labelling at volume") and asserts a ceiling on clicks and that all 20 labels are
stored, never a time (the machine's load decides that)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import StreamlitApp, chromium, publish_screenshot, sign_in, wait_idle
from playwright.sync_api import Locator, Page, expect
from rubricforge.models.accounts.auth import add_user
from rubricforge.models.accounts.orm import User
from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.agreement.label_keys import save_label_keys
from rubricforge.models.agreement.orm import HumanLabel
from rubricforge.models.agreement.sampling import QueueSpec
from rubricforge.models.agreement.spotcheck import create_queue
from rubricforge.models.core.db import session_scope
from rubricforge.models.demo.loader import load_demo
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

pytestmark = [pytest.mark.db, pytest.mark.browser]
PASSWORD = "correct horse battery"
ITEMS = 20
# Clicks after sign-in: none (the annotator lands on the queue, keys do the rest).
# Before this was measured the annotator needed one click (Overview -> Spot-check).
MAX_CLICKS = 0


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("no Chromium at /usr/bin/chromium")
    with chromium(tmp_path, {"width": 1366, "height": 768}) as p:
        yield p


class Counter:
    """Counts what the annotator does after signing in."""

    def __init__(self, page: Page) -> None:
        self.page, self.clicks, self.keys = page, 0, 0

    def click(self, target: Locator) -> None:
        self.clicks += 1
        target.click()

    def press(self, key: str) -> None:
        self.keys += 1
        self.page.keyboard.press(key)


def labels_by(engine: Engine, username: str) -> int:
    with Session(engine) as s:
        uid = s.scalars(select(User.id).where(User.username == username)).one()
        count = s.scalar(select(func.count()).where(HumanLabel.annotator_id == uid))
    return count or 0


@pytest.mark.parametrize("show_verdict", [True, False], ids=["verdict", "straight-on"])
def test_an_annotator_labels_20_items_by_keyboard(
    db_url: str, engine: Engine, page: Page, tmp_path: Path, show_verdict: bool
) -> None:
    """With the default keys the verdict shows after each label and Enter moves on
    (two keys an item); with "go straight on" (a per-user setting) one key an item."""
    load_demo(engine)
    with session_scope(engine) as s:
        lead = add_user(s, "lead", "expert", PASSWORD, actor=OPERATOR)
        ann = add_user(s, "ann", "annotator", PASSWORD, actor=OPERATOR)
        if not show_verdict:
            save_label_keys(s, ann, show_verdict=False)
        # Three labels per item: the demo's own labels never make an item complete.
        create_queue(s, lead, QueueSpec(name="volume", size=ITEMS, labels_per_item=3))
    app = StreamlitApp({"DATABASE_URL": db_url}, tmp_path / "streamlit.log")
    try:
        sign_in(page, app, "ann", PASSWORD)
        wait_idle(page)
        user = Counter(page)
        started = time.monotonic()
        on_queue = page.get_by_text("left for you, this one included")
        stored_msg = page.get_by_text(re.compile("^Your label is stored: "))
        if not on_queue.count():
            user.click(page.get_by_role("link", name="Spot-check"))
        for n in range(ITEMS):
            expect(page.get_by_text(f"{ITEMS - n} left for you, this one included")).to_be_visible()
            wait_idle(page)
            if n == 0:  # the shortcuts' script has arrived (a server just started is slow)
                page.wait_for_load_state("networkidle")
            user.press("m" if n % 2 == 0 else "n")
            if not show_verdict:
                continue
            expect(stored_msg).to_be_visible()
            wait_idle(page)
            if n < ITEMS - 1:
                user.press("Enter")
                expect(stored_msg).to_have_count(0)
        if not show_verdict:
            expect(page.get_by_text("Nothing left for you in this queue")).to_be_visible()
        elapsed = time.monotonic() - started
        if show_verdict:  # the README's screenshot: the queue at 1366x768, untimed
            page.evaluate("window.scrollTo(0, 0)")
            shot = tmp_path / "spotcheck.png"
            page.screenshot(path=str(shot))
            publish_screenshot(shot, "spotcheck-volume.png")
        stored = labels_by(engine, "ann")
        mode = "verdict" if show_verdict else "straight on"
        print(
            f"\nLABEL TIMING ({mode}): {ITEMS} items, {user.clicks} clicks, "
            f"{user.keys} key presses, {elapsed:.1f} s ({elapsed / ITEMS:.2f} s an item), "
            f"{stored} labels stored"
        )
        assert stored == ITEMS
        assert user.clicks <= MAX_CLICKS
    finally:
        app.stop()
