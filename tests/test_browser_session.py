"""Sessions in a real Chromium: a reload keeps the user signed in (an HttpOnly
cookie), and a deep link opened signed out lands on its page after sign-in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import StreamlitApp, chromium, sign_in, sign_out
from playwright.sync_api import Page, expect
from rubricforge.models.accounts.orm import UserSession
from rubricforge.models.rubrics.orm import Prompt
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from webapp_support import PASSWORD

pytestmark = [pytest.mark.db, pytest.mark.browser]
COOKIE = "rubricforge_session"


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


def session_cookie(page: Page) -> dict | None:  # type: ignore[type-arg]
    return next((c for c in page.context.cookies() if c["name"] == COOKIE), None)


def test_reload_keeps_the_user_signed_in(page: Page, app: StreamlitApp, demo_app_db: str) -> None:
    sign_in(page, app, "expert1", PASSWORD)
    cookie = session_cookie(page)
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert page.evaluate("document.cookie").find(COOKIE) == -1, "scripts cannot read it"
    eng = create_engine(demo_app_db)
    with Session(eng) as s:
        bound = s.scalars(select(UserSession.browser_hash)).all()
    eng.dispose()
    assert len(bound) == 1 and bound[0], "the code was bound to this browser"

    page.reload()
    expect(page.get_by_text("Signed in as expert1")).to_be_visible()
    expect(page.get_by_role("heading", name="Sign in to rubricforge")).to_have_count(0)

    sign_out(page)
    assert session_cookie(page) is None
    page.reload()
    expect(page.get_by_role("heading", name="Sign in to rubricforge")).to_be_visible()


def test_a_deep_link_lands_on_its_page_after_sign_in(
    page: Page, app: StreamlitApp, demo_app_db: str
) -> None:
    eng = create_engine(demo_app_db)
    with Session(eng) as s:
        prompt_id = s.scalars(select(Prompt.id).order_by(Prompt.id.desc())).first()
    eng.dispose()
    link = f"{app.url}/editor?prompt={prompt_id}"

    page.goto(link)
    expect(page.get_by_role("heading", name="Sign in to rubricforge")).to_be_visible()
    expect(page.get_by_text("Page not found")).to_have_count(0)
    page.get_by_role("textbox", name="Username").fill("expert1")
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()

    expect(page.get_by_role("heading", name="Rubric editor")).to_be_visible()
    expect(page).to_have_url(link)
    page.reload()
    expect(page.get_by_role("heading", name="Rubric editor")).to_be_visible()
    expect(page).to_have_url(link)
