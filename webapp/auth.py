"""Who is signed in: the user id in the Streamlit session, re-checked on every run.

Only the id is kept in `st.session_state`. Each run reads the user again
(`models.accounts.auth.get_active_user`), so disabling an account or changing its role
takes effect at the next click; a disabled account is signed out.

Optional single sign-on: when `.streamlit/secrets.toml` has an `[auth]` section,
the login page offers `st.login` (OIDC). The provider's email is the username
(admins add SSO users with their email as username); an unknown email signs in
nobody and says so.
"""

from __future__ import annotations

import streamlit as st
from rubricforge.models.accounts.auth import get_active_user, list_users, normalize_username
from rubricforge.models.accounts.permissions import Action, UserInfo, can
from rubricforge.webapp.db import read_session

USER_KEY = "user_id"
NOTICE_KEY = "auth_notice"  # why the user was signed out, shown once on the login page


def sign_in(user: UserInfo) -> None:
    # A fresh session state: nothing one user left (edits, selections) reaches the next.
    for key in list(st.session_state):
        del st.session_state[key]
    st.session_state[USER_KEY] = user.id


def sign_out(notice: str | None = None) -> None:
    for key in list(st.session_state):
        del st.session_state[key]
    if notice:
        st.session_state[NOTICE_KEY] = notice
    if sso_configured() and st.user.is_logged_in:
        st.logout()


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
    disabled or deleted account, which is signed out)."""
    user_id = st.session_state.get(USER_KEY)
    if user_id is None:
        user = _sso_user()
        if user is not None:
            sign_in(user)
        return user
    with read_session() as session:
        user = get_active_user(session, int(user_id))
    if user is None:
        sign_out("Your account was disabled or removed, so you were signed out.")
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
