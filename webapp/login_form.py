"""The sign-in form (username and password, or single sign-on when configured).

Shown for every address while nobody is signed in, so a deep link
(`/editor?prompt=16`) keeps its address and lands there after sign-in.
"""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st
from rubricforge.models.accounts.auth import authenticate, list_users
from rubricforge.models.core.errors import RubricforgeError
from rubricforge.webapp.auth import NOTICE_KEY, sign_in, sign_out, sso_configured, sso_email
from rubricforge.webapp.components.text import escape_md
from rubricforge.webapp.db import read_session, write_session

LOOPBACK = {"127.0.0.1", "::1"}


def _address() -> str | None:
    """The browser's network address, for the per-address throttle (None if unknown).

    Behind a reverse proxy on this machine (a loopback peer) it is the last
    X-Forwarded-For entry, the one the proxy itself added (docs/deployment.md)."""
    try:
        address = st.context.ip_address
        forwarded = st.context.headers.get("X-Forwarded-For")
    except Exception:  # no browser request behind this run (AppTest)
        return None
    if not isinstance(address, str) or not address:
        return None
    if address in LOOPBACK and isinstance(forwarded, str) and forwarded.strip():
        return forwarded.split(",")[-1].strip()[:128] or address
    return address


def requested_path(url_path: str) -> str:
    """The address the browser asked for: the page's path and its query parameters."""
    query = urlencode(st.query_params.to_dict())
    return "/" + url_path + (f"?{query}" if query else "")


def show_login(next_path: str = "/") -> None:
    st.title("Sign in to rubricforge")
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.warning(escape_md(notice))

    with read_session() as session:
        anyone = bool(list_users(session))
    if not anyone:
        st.info(
            "No accounts yet. Create the first admin on the server with "
            "`rubricforge user add NAME --role admin`, then sign in here."
        )

    with st.form("login"):
        username = st.text_input("Username", autocomplete="username")
        password = st.text_input("Password", type="password", autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        # A write: sign-ins, refused attempts and the throttle's counts are stored.
        try:
            with write_session() as session:
                user = authenticate(session, username, password, address=_address())
        except RubricforgeError as exc:  # locked: too many failures
            st.error(escape_md(str(exc)))
            return
        if user is None:
            st.error(
                "Wrong username or password, or the account is disabled. "
                "An admin can reset your password on the Admin page."
            )
        else:
            sign_in(user, next_path)
            st.rerun()

    if sso_configured():
        st.divider()
        if sso_email() is None:
            st.button("Sign in with single sign-on", on_click=st.login, icon=":material/key:")
        else:  # signed in at the provider, but no account matched (see webapp.auth)
            st.button("Sign out of single sign-on", on_click=sign_out)
