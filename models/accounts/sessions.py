"""Sign-in sessions: signed, expiring tokens that the server can revoke.

A browser holds `<session id>.<expiry>.<secret>.<HMAC>` in an HttpOnly cookie.
The HMAC (a key kept out of the database) rejects a tampered or forged token
before any lookup; the `user_sessions` row holds only the secret's SHA-256, so
a leaked database does not hand out live cookies. A token is good while its row
is not revoked, not expired, and its user is active: disabling an account,
changing its password or signing out ends it at the next click.

Sign-in happens in the Streamlit script, which cannot set cookies. It opens a
session with a one-time handoff code (valid `HANDOFF_SECONDS`); the browser
takes the code to the app's own route, which claims it and sets the cookie
(`rubricforge.webapp.session_routes`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rubricforge.models.accounts.auth import get_active_user
from rubricforge.models.accounts.orm import UserSession
from rubricforge.models.accounts.permissions import UserInfo
from rubricforge.models.core.errors import InvalidInputError
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

SESSION_LIFETIME = timedelta(days=7)
HANDOFF_SECONDS = 60
KEY_ENV = "RUBRICFORGE_SECRET_KEY"
KEY_FILE = "session.key"
MAX_TOKEN_LENGTH = 512


def signing_key(home: Path) -> bytes:
    """RUBRICFORGE_SECRET_KEY when set (several app servers must share it), else a
    random key kept in `home/session.key`, created once with 0600 permissions."""
    env = os.environ.get(KEY_ENV)
    if env:
        return env.encode()
    path = home / KEY_FILE
    home.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(32))
    return path.read_bytes().strip()


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _mac(key: bytes, payload: str) -> str:
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make_token(key: bytes, session_id: int, expires_at: datetime, secret: str) -> str:
    payload = f"{session_id}.{int(expires_at.timestamp())}.{secret}"
    return f"{payload}.{_mac(key, payload)}"


def parse_token(key: bytes, token: str, *, now: datetime | None = None) -> tuple[int, str] | None:
    """(session id, secret) of a token whose signature holds and which has not
    expired; None for anything else (tampered, forged, expired, garbage)."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    payload, _, mac = token.rpartition(".")
    if not payload or not hmac.compare_digest(mac.encode(), _mac(key, payload).encode()):
        return None
    parts = payload.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    if int(parts[1]) <= _now(now).timestamp():
        return None
    return int(parts[0]), parts[2]


def begin_session(
    session: Session, user_id: int, *, browser: str | None = None, now: datetime | None = None
) -> tuple[int, str]:
    """Open a session for a user who just proved who they are (the caller's
    check: `authenticate` or single sign-on); returns its id and the one-time
    handoff code the browser exchanges for its cookie. `browser`: a secret of the
    browser that signed in (its XSRF token), which the claim must show again."""
    now = _now(now)
    # Housekeeping: sessions that ended a day ago, and codes nobody claimed, go.
    session.execute(
        delete(UserSession).where(
            or_(
                UserSession.expires_at < now - timedelta(days=1),
                UserSession.revoked_at < now - timedelta(days=1),
                and_(
                    UserSession.token_hash.is_(None),
                    UserSession.created_at < now - timedelta(days=1),
                ),
            )
        )
    )
    code = secrets.token_urlsafe(32)
    row = UserSession(
        user_id=user_id,
        handoff_hash=_sha256(code),
        browser_hash=_sha256(browser) if browser else None,
        expires_at=now + SESSION_LIFETIME,
    )
    session.add(row)
    session.flush()
    return row.id, code


def claim_handoff(
    session: Session,
    key: bytes,
    code: str,
    *,
    browser: str | None = None,
    now: datetime | None = None,
) -> tuple[str, datetime]:
    """Exchange a handoff code (once, within HANDOFF_SECONDS, from the browser that
    signed in) for the session's token and its expiry. InvalidInputError when the
    code is unknown, used, old, or brought by another browser."""
    now = _now(now)
    row = session.scalar(
        select(UserSession).where(UserSession.handoff_hash == _sha256(code or "")).with_for_update()
    )
    if (
        row is None
        or row.revoked_at is not None
        or row.created_at < now - timedelta(seconds=HANDOFF_SECONDS)
        or get_active_user(session, row.user_id) is None
        or (row.browser_hash is not None and row.browser_hash != _sha256(browser or ""))
    ):
        raise InvalidInputError("This sign-in link has expired or was already used. Sign in again.")
    secret = secrets.token_urlsafe(32)
    row.handoff_hash = None
    row.token_hash = _sha256(secret)
    return make_token(key, row.id, row.expires_at, secret), row.expires_at


def _live_row(session: Session, session_id: int, now: datetime) -> UserSession | None:
    row = session.get(UserSession, session_id)
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    return row


def session_user(
    session: Session, key: bytes, token: str, *, now: datetime | None = None
) -> UserInfo | None:
    """The active user behind a cookie token; None when the token is tampered,
    expired, revoked, or its user is disabled or gone."""
    now = _now(now)
    parsed = parse_token(key, token, now=now)
    if parsed is None:
        return None
    row = _live_row(session, parsed[0], now)
    if row is None or row.token_hash is None:
        return None
    if not hmac.compare_digest(row.token_hash, _sha256(parsed[1])):
        return None
    return get_active_user(session, row.user_id)


def session_id_of(key: bytes, token: str) -> int | None:
    parsed = parse_token(key, token)
    return parsed[0] if parsed else None


def pending_session_user(
    session: Session, session_id: int, *, now: datetime | None = None
) -> UserInfo | None:
    """The user of a session opened in this browser tab (before its cookie
    arrives): live and its user active, else None."""
    row = _live_row(session, session_id, _now(now))
    return get_active_user(session, row.user_id) if row else None


def revoke_session(session: Session, session_id: int, *, now: datetime | None = None) -> None:
    session.execute(
        update(UserSession)
        .where(UserSession.id == session_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=_now(now), handoff_hash=None)
    )
