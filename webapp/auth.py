"""Who is signed in: a server-side session, re-checked on every run.

The browser holds the session token in an HttpOnly cookie (set by
`webapp.session_routes`), so a reload or a deep link keeps the user signed in.
Between sign-in and the cookie's arrival the tab knows its session by id in
`st.session_state`. Each run reads the session and the user again
(`models.accounts.sessions`), so signing out, disabling an account, changing its
password or its role takes effect at the next click.

Optional single sign-on: when `.streamlit/secrets.toml` has an `[auth]` section,
the login page offers `st.login` (OIDC). The provider's email is the username
(admins add SSO users with their email as username); an unknown email signs in
nobody and says so.
"""

from __future__ import annotations

import streamlit as st
from rubricforge.models.accounts.auth import get_active_user, list_users, normalize_username
from rubricforge.models.accounts.permissions import Action, UserInfo, can
from rubricforge.models.accounts.sessions import (
    begin_session,
    pending_session_user,
    revoke_session,
    session_id_of,
    session_user,
)
from rubricforge.webapp.db import read_session, write_session
from rubricforge.webapp.session_routes import (
    COOKIE,
    SIGNOUT_PATH,
    XSRF_COOKIE,
    browser_secret,
    key,
    session_url,
)

USER_KEY = "user_id"
SESSION_KEY = "session_id"  # this tab's session, before (and besides) its cookie
NOTICE_KEY = "auth_notice"  # why the user was signed out, shown once on the login page
REDIRECT_KEY = "auth_redirect"  # where the browser goes next (to set or clear the cookie)
ENDED_KEY = "auth_cookie_ended"  # this tab signed out: its cookie no longer counts
SEEN_KEY = "auth_seen"  # this tab was signed in (so a session that ends is explained)


def _cookie(name: str = COOKIE) -> str | None:
    try:
        value = st.context.cookies.get(name)
    except Exception:  # no browser request behind this run (AppTest)
        return None
    return value if isinstance(value, str) else None


def sign_in(user: UserInfo, next_path: str = "/") -> None:
    """Open a server-side session for `user` and send the browser to set its
    cookie, then on to `next_path`."""
    assert user.id is not None, "only an account signs in (the CLI's operator has none)"
    with write_session() as session:
        browser = browser_secret(_cookie(XSRF_COOKIE))
        session_id, code = begin_session(session, user.id, browser=browser)
    # A fresh session state: nothing one user left (edits, selections) reaches the next.
    for k in list(st.session_state):
        del st.session_state[k]
    st.session_state[USER_KEY] = user.id
    st.session_state[SESSION_KEY] = session_id
    st.session_state[REDIRECT_KEY] = session_url(code, next_path)


def sign_out(notice: str | None = None) -> None:
    ids = {st.session_state.get(SESSION_KEY), session_id_of(key(), _cookie() or "")}
    with write_session() as session:
        for session_id in ids - {None}:
            revoke_session(session, int(session_id))  # type: ignore[arg-type]
    for k in list(st.session_state):
        del st.session_state[k]
    st.session_state[ENDED_KEY] = True
    sso = sso_configured() and st.user.is_logged_in
    if notice:
        st.session_state[NOTICE_KEY] = notice
    elif not sso:  # a sign-out the user asked for: also delete the cookie in the browser
        st.session_state[REDIRECT_KEY] = SIGNOUT_PATH
    if sso:  # st.logout sends the browser to the provider (our cookie is revoked already)
        st.logout()


def follow_redirect() -> bool:
    """Send the browser where sign-in or sign-out asked (once); whether it did.
    The caller stops the run then: the page reloads in a moment.

    Through the message st.login and st.logout use to send the browser to their
    own routes (Streamlit has no public redirect): no HTML or script of ours on
    the page. Should a later Streamlit drop it, a button does the same.
    """
    url = st.session_state.pop(REDIRECT_KEY, None)
    if not url:
        return False
    st.caption("One moment…")
    try:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
        msg = ForwardMsg()
        msg.auth_redirect.url = url
    except (ImportError, AttributeError, ValueError):
        st.link_button("Continue", url, type="primary")
        return True
    if ctx is not None:
        ctx.enqueue(msg)
    return True


def sso_configured() -> bool:
    try:
        return "auth" in st.secrets
    except FileNotFoundError:  # no secrets.toml at all
        return False


def sso_email() -> str | None:
    """The OIDC email when signed in with the provider, else None."""
    if not sso_configured() or not st.user.is_logged_in:
        return None
    email = st.user.get("email")
    return str(email) if email else None


def _sso_user() -> UserInfo | None:
    email = sso_email()
    if email is None:
        return None
    name = normalize_username(email)
    with read_session() as session:
        match = next((u for u in list_users(session) if u.username == name), None)
        user = get_active_user(session, match.id) if match else None
    if user is None:
        st.session_state[NOTICE_KEY] = (
            f"No active rubricforge account for {email}. Ask an admin to add a user "
            "named by that email, or sign out of single sign-on and use a password."
        )
    return user


def current_user() -> UserInfo | None:
    """The signed-in user, read from the database now; None if nobody (or a
    session that was revoked or expired, or whose account was disabled or
    removed: that tab is signed out and told why)."""
    token = None if st.session_state.get(ENDED_KEY) else _cookie()
    session_id = st.session_state.get(SESSION_KEY)
    user_id = st.session_state.get(USER_KEY)
    with read_session() as session:
        if token:
            user = session_user(session, key(), token)
            if user is not None:
                st.session_state[SEEN_KEY] = True
                return user
        if session_id is not None:
            user = pending_session_user(session, int(session_id))
        elif user_id is not None:  # set by the test harness (AppTest has no cookies)
            user = get_active_user(session, int(user_id))
        else:
            user = None
    if user is not None:
        st.session_state[SEEN_KEY] = True
        return user
    # A session that ended while this tab used it: say so. A stale cookie at a fresh
    # page load (expired, signed out elsewhere) just shows the sign-in form.
    if session_id is not None or user_id is not None or (token and st.session_state.get(SEEN_KEY)):
        sign_out(
            "Your session ended (signed out elsewhere, expired, a new password, or the "
            "account was disabled), so you were signed out. Sign in again."
        )
        return None
    user = _sso_user()
    if user is not None:
        sign_in(user)
    return user


def page_user(action: Action | None = None) -> UserInfo:
    """The signed-in user for a page, stopping the page with a message when there
    is none or when their role may not do `action` (what the page is for)."""
    user = current_user()
    if user is None:
        st.warning("Sign in first.")
        st.stop()
    if action is not None and not can(user, action):
        st.error(
            f"Not allowed: this page needs permission to {action.value.replace('_', ' ')}, "
            f"which your role ({user.role.value}) does not have."
        )
        st.stop()
    return user
