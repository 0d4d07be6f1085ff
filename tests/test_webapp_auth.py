"""Signing in and out, and what each role gets to see (AppTest on the real app)."""

from __future__ import annotations

import pytest
from rubricforge.models.accounts.auth import disable_user
from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.accounts.throttle import ACCOUNT_LIMIT
from rubricforge.models.core.audit import AuditEntry
from rubricforge.models.core.db import session_scope
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest
from webapp_support import (
    APP,
    PASSWORD,
    add_account,
    app_as,
    click,
    has,
    shown,
    user_id,
    values,
    widget,
)

pytestmark = pytest.mark.db
AUTH_SECRETS = {
    "auth": {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "test-cookie-secret",
        "client_id": "rubricforge",
        "client_secret": "test-client-secret",
        "server_metadata_url": "https://idp.example.org/.well-known/openid-configuration",
    }
}


def sign_in(at: AppTest, username: str, password: str) -> AppTest:
    widget(at, "text_input", "Username").input(username)
    widget(at, "text_input", "Password").input(password)
    at.button[0].click()  # the form's submit button
    at.run()
    assert not at.exception, at.exception
    if "user_id" in at.session_state:
        # Signed in: that run sent the browser to /api/session for its cookie and
        # stopped; the browser comes back (here: the next run).
        assert at.caption[0].value == "One moment…" and not at.title
        at.run()
    return at


def audit_actions(url: str) -> list[tuple[str, str]]:
    eng = create_engine(url)
    with Session(eng) as s:
        rows = s.execute(
            select(AuditEntry.action, AuditEntry.actor)
            .where(AuditEntry.action.like("user.login%"))
            .order_by(AuditEntry.id)
        ).all()
    eng.dispose()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_signing_in_and_out(demo_app_db: str) -> None:
    at = app_as(None)
    assert at.title[0].value == "Sign in to rubricforge"
    assert not at.info  # accounts exist: no first-run hint
    sign_in(at, "Expert1", PASSWORD)
    assert at.session_state["user_id"] == user_id(demo_app_db, "expert1")
    assert at.title[0].value == "Overview"
    assert [c.value for c in at.sidebar.caption] == ["Signed in as expert1 (expert)"]
    at.sidebar.button[0].click().run()  # sends the browser to /api/signout
    assert not at.title
    at.run()
    assert at.title[0].value == "Sign in to rubricforge"
    assert "user_id" not in at.session_state
    assert audit_actions(demo_app_db) == [("user.login", "expert1")]


def test_a_wrong_password_signs_in_nobody(demo_app_db: str) -> None:
    at = sign_in(app_as(None), "expert1", "not the password")
    assert shown(at, "error", "Wrong username or password, or the account is disabled.")
    assert "user_id" not in at.session_state and at.title[0].value == "Sign in to rubricforge"
    sign_in(at, "nobody", PASSWORD)
    assert "user_id" not in at.session_state
    assert audit_actions(demo_app_db) == [("user.login_failed", "expert1")]


def test_repeated_failures_lock_the_account_with_a_message(demo_app_db: str) -> None:
    at = app_as(None)
    for _ in range(ACCOUNT_LIMIT):
        sign_in(at, "expert1", "wrong password")
    sign_in(at, "expert1", PASSWORD)
    assert at.title[0].value == "Sign in to rubricforge"
    assert shown(at, "error", "Too many failed sign-ins for this account")
    assert "user_id" not in at.session_state


def test_a_disabled_account_cannot_sign_in_and_is_signed_out(demo_app_db: str) -> None:
    at = sign_in(app_as(None), "expert2", PASSWORD)
    assert at.title[0].value == "Overview"
    eng = create_engine(demo_app_db)
    with session_scope(eng) as s:
        disable_user(s, "expert2", actor=OPERATOR)
    eng.dispose()
    at.run()  # the next click
    assert at.title[0].value == "Sign in to rubricforge"
    assert shown(at, "warning", "Your session ended")
    assert "user_id" not in at.session_state
    sign_in(at, "expert2", PASSWORD)
    assert shown(at, "error", "Wrong username or password, or the account is disabled.")
    assert ("user.login_refused", "expert2") in audit_actions(demo_app_db)


def test_an_empty_database_says_how_to_make_the_first_admin(app_db: str) -> None:
    at = app_as(None)
    assert shown(at, "info", "rubricforge user add NAME --role admin")


def test_pages_follow_the_role(demo_app_db: str) -> None:
    at = app_as(user_id(demo_app_db, "annotator1"))
    # The admin page is not offered to an annotator ...
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("views/admin.py")
    # ... and its script, run anyway, refuses.
    page = AppTest.from_file(str(APP.parent / "views" / "admin.py"), default_timeout=60)
    page.session_state["user_id"] = user_id(demo_app_db, "annotator1")
    page.run()
    assert shown(page, "error", "Not allowed: this page needs permission to manage users")
    assert not page.text_input and not page.button
    # Reading pages are open to every role; writing controls are not shown.
    at.switch_page("views/prompts.py").run()
    assert at.title[0].value == "Prompts" and not has(at, "button", "Assign")
    admin = app_as(user_id(demo_app_db, "admin"), "views/admin.py")
    assert admin.title[0].value == "Admin" and not admin.error


def test_a_page_without_a_signed_in_user_stops(demo_app_db: str) -> None:
    at = AppTest.from_file(str(APP.parent / "views" / "editor.py"), default_timeout=60).run()
    assert values(at, "warning") == ["Sign in first."]
    assert not at.data_editor


def test_single_sign_on_is_offered_only_when_configured(demo_app_db: str) -> None:
    assert not has(app_as(None), "button", "Sign in with single sign-on")
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.secrets.update(AUTH_SECRETS)
    at.user = {"is_logged_in": False}
    at.run()
    assert has(at, "button", "Sign in with single sign-on")


def test_single_sign_on_maps_the_email_to_a_username(demo_app_db: str) -> None:
    uid = add_account(demo_app_db, "maya.okafor@clinic.example", "expert")
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.secrets.update(AUTH_SECRETS)
    at.user = {"is_logged_in": True, "email": "Maya.Okafor@clinic.example"}
    at.run()  # signed in: the browser goes for its session cookie
    at.run()
    assert at.session_state["user_id"] == uid and at.title[0].value == "Overview"


def test_single_sign_on_with_an_unknown_email_says_so(demo_app_db: str) -> None:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.secrets.update(AUTH_SECRETS)
    at.user = {"is_logged_in": True, "email": "stranger@example.org"}
    at.run()
    assert "user_id" not in at.session_state
    assert shown(at, "warning", "No active rubricforge account for stranger@example.org")
    assert has(at, "button", "Sign out of single sign-on")
    click(at, "Sign out of single sign-on")
    assert at.user == {"is_logged_in": False}
