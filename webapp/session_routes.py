"""The app's own HTTP routes for the session cookie (served beside Streamlit by st.App).

Streamlit's script talks to the browser over a websocket and cannot set a cookie,
so sign-in ends with a trip through `/api/session`: the script opens a session
and sends the browser there with a one-time code; this route claims the code,
sets the token as an HttpOnly, SameSite=Lax cookie (Secure over https) and
redirects to the page the user asked for. `/api/signout` revokes the session
and deletes the cookie.
"""

from __future__ import annotations

import html
import logging
import re
from datetime import UTC, datetime
from functools import cache
from urllib.parse import quote

from rubricforge.models.accounts.sessions import (
    claim_handoff,
    revoke_session,
    session_id_of,
    signing_key,
)
from rubricforge.models.core.db import get_engine
from rubricforge.models.core.errors import RubricforgeError
from rubricforge.models.core.settings import Settings
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

COOKIE = "rubricforge_session"
XSRF_COOKIE = "_streamlit_xsrf"  # Streamlit's own; not HttpOnly, same-site only
SESSION_PATH = "/api/session"
SIGNOUT_PATH = "/api/signout"
# A page of this app: one absolute path, no scheme or host (no open redirect).
_SAFE_NEXT = re.compile(r"^/(?![/\\])[^\s\\]*$")
_log = logging.getLogger(__name__)


@cache
def key() -> bytes:
    return signing_key(Settings.from_env().home)


def browser_secret(xsrf_cookie: str | None) -> str | None:
    """The token inside Streamlit's XSRF cookie (`2|mask|masked token|time`; the
    mask changes each time the cookie is set, the token does not), as hex; None
    when there is no such cookie (XSRF protection off)."""
    if not isinstance(xsrf_cookie, str):
        return None
    parts = xsrf_cookie.strip("\"'").split("|")
    if len(parts) != 4 or parts[0] != "2":
        return None
    try:
        mask, masked = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
    except ValueError:
        return None
    if not masked or len(mask) != 4:
        return None
    return bytes(b ^ mask[i % 4] for i, b in enumerate(masked)).hex()


def safe_next(target: str | None) -> str:
    """`target` when it is a path on this site, else "/"."""
    if target and len(target) <= 2000 and _SAFE_NEXT.match(target):
        return target
    return "/"


def session_url(code: str, next_path: str) -> str:
    return f"{SESSION_PATH}?code={quote(code, safe='')}&next={quote(safe_next(next_path), safe='')}"


def _claim(code: str, browser: str | None) -> tuple[str, int]:
    with Session(get_engine()) as session, session.begin():
        token, expires_at = claim_handoff(session, key(), code, browser=browser)
    return token, max(0, int((expires_at - datetime.now(UTC)).total_seconds()))


def _revoke(token: str) -> None:
    session_id = session_id_of(key(), token)
    if session_id is None:
        return
    with Session(get_engine()) as session, session.begin():
        revoke_session(session, session_id)


def _page(message: str, status: int) -> HTMLResponse:
    body = (
        "<!doctype html><meta charset=utf-8><title>rubricforge</title>"
        f"<p>{html.escape(message)}</p><p><a href='/'>Sign in</a></p>"
    )
    return HTMLResponse(body, status_code=status)


async def claim_session(request: Request) -> Response:
    code = request.query_params.get("code", "")
    try:
        browser = browser_secret(request.cookies.get(XSRF_COOKIE))
        token, max_age = await run_in_threadpool(_claim, code, browser)
    except RubricforgeError as exc:
        return _page(str(exc), 400)
    except Exception:  # the database is down: a message, the detail in the server log
        _log.exception("claiming a sign-in session failed")
        return _page("Cannot reach the database to sign you in. Try again shortly.", 503)
    response = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def sign_out(request: Request) -> Response:
    token = request.cookies.get(COOKIE)
    if token:
        try:
            await run_in_threadpool(_revoke, token)
        except Exception:
            _log.exception("revoking a session at sign-out failed")
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
    return response


ROUTES = [
    Route(SESSION_PATH, claim_session, methods=["GET"]),
    Route(SIGNOUT_PATH, sign_out, methods=["GET", "POST"]),
]
