"""Blind spot-checks in a real Chromium: an annotator signs in, reads the agreement
dashboard, labels three items of a queue (the judge's verdict is nowhere on the page
until each label is committed), and finds the dashboard counting the new labels."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import StreamlitApp, chromium, sign_in, wait_idle
from judging_support import SECRET, judged
from playwright.sync_api import Page, expect
from rubricforge.models.accounts.auth import set_password
from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.agreement.figures import agreement_report
from rubricforge.models.agreement.orm import HumanLabel
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

pytestmark = [pytest.mark.db, pytest.mark.browser]
PASSWORD = "correct horse battery"


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("no Chromium at /usr/bin/chromium")
    with chromium(tmp_path) as p:
        yield p


def open_page(page: Page, name: str, heading: str) -> None:
    # Through the navigation: a fresh page load would be a new, signed-out session.
    page.get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", name=heading)).to_be_visible()
    wait_idle(page)


def label_count(page: Page) -> int:
    caption = page.get_by_text(" labels on ")
    expect(caption).to_be_visible()
    return int(caption.inner_text().split(" labels on ")[0].strip())


def test_an_annotator_labels_blind_and_the_dashboard_counts_it(
    db_url: str, engine: Engine, page: Page, tmp_path: Path
) -> None:
    # Two annotators per item, so bob's earlier labels leave the queue's items to ann.
    j = judged(engine, queue_size=3, per_item=2)
    with Session(engine) as s, s.begin():
        j.world.session = s
        bob = j.world.users["bob"]
        for c, met in zip(j.prompts[1].criteria, [True, True, True, False], strict=True):
            j.world.label(bob, j.responses[3], c, met)  # one disagreement with the judge
        set_password(s, "ann", PASSWORD, actor=OPERATOR)
    app = StreamlitApp({"DATABASE_URL": db_url}, tmp_path / "streamlit.log")
    try:
        sign_in(page, app, "ann", PASSWORD)
        open_page(page, "Agreement", "Agreement")
        before = label_count(page)
        assert before == 4

        open_page(page, "Spot-check", "Spot-check")
        for n, choice in enumerate(["Met", "Not met", "Met"]):
            expect(page.get_by_text("left for you, this one included")).to_be_visible()
            wait_idle(page)
            # Blind: no verdict and no rationale anywhere before the label is committed.
            expect(page.get_by_text(SECRET)).to_have_count(0)
            expect(page.get_by_text("What the judge said")).to_have_count(0)
            if n == 0:  # the keyboard: M commits "met"
                page.locator("body").press("m")
            else:
                # The accessible name ends with the shortcut's key ("Not met N").
                page.get_by_role("button", name=re.compile(rf"^{choice}\b")).click()
            expect(page.get_by_text(f"Your label is stored: {choice.lower()}.")).to_be_visible()
            expect(page.get_by_text(SECRET).first).to_be_visible()
            page.screenshot(path=str(tmp_path / f"revealed-{n}.png"))
            page.get_by_role("button", name="Next item").click()
        expect(page.get_by_text("Nothing left for you in this queue")).to_be_visible()

        with Session(engine) as s:
            mine = s.scalars(
                select(HumanLabel).where(HumanLabel.annotator_id == j.uid("ann"))
            ).all()
            report = agreement_report(s)
        assert [lab.met for lab in sorted(mine, key=lambda lab: lab.id)] == [True, False, True]
        assert all(lab.seconds_spent is not None and lab.seconds_spent >= 0 for lab in mine)

        open_page(page, "Agreement", "Agreement")
        assert label_count(page) == before + 3 == report.n_labels
        kappa = page.get_by_test_id("stMetric").filter(has_text="Cohen's kappa")
        expected = f"{report.overall.kappa.value:.3f}" if report.overall.kappa.defined else "—"
        expect(kappa.get_by_test_id("stMetricValue")).to_have_text(expected)
        page.screenshot(path=str(tmp_path / "agreement.png"), full_page=True)
    finally:
        app.stop()
