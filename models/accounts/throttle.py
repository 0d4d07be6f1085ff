"""Sign-in throttling: too many failures lock an account, or a network address,
for a while; an admin can clear an account's lock at once.

Failures are counted per account name (whether or not it exists, so a lock says
nothing about who has an account) and per address, in a sliding window of
`WINDOW`. Reaching the limit locks for `LOCKOUT`; while locked, no password is
even checked. A successful sign-in clears the account's count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from rubricforge.models.accounts.orm import LoginThrottle, User
from rubricforge.models.accounts.permissions import Action, UserInfo, require
from rubricforge.models.core.audit import audit
from rubricforge.models.core.errors import InvalidInputError, SignInLockedError
from sqlalchemy import delete, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
ACCOUNT_LIMIT = 5  # failures of one account name in WINDOW
ADDRESS_LIMIT = 30  # failures from one address in WINDOW (several people may share it)
ACCOUNT, ADDRESS = "account", "address"


@dataclass(frozen=True)
class Lock:
    kind: str
    key: str
    failures: int
    locked_until: datetime


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _keys(username: str, address: str | None) -> list[tuple[str, str]]:
    keys = [(ACCOUNT, username.strip().lower()[:128])]
    if address:
        keys.append((ADDRESS, address[:128]))
    return keys


def check_not_locked(
    session: Session, username: str, address: str | None, *, now: datetime | None = None
) -> None:
    """SignInLockedError when the account name or the address is locked now."""
    now = _now(now)
    for kind, key in _keys(username, address):
        row = session.get(LoginThrottle, (kind, key))
        if row is not None and row.locked_until is not None and row.locked_until > now:
            minutes = max(1, math.ceil((row.locked_until - now).total_seconds() / 60))
            if kind == ACCOUNT:
                raise SignInLockedError(
                    f"Too many failed sign-ins for this account: try again in {minutes} "
                    "minute(s), or ask an admin to unlock it (Admin page, or "
                    f"`rubricforge user unlock {key}`)."
                )
            raise SignInLockedError(
                f"Too many failed sign-ins from your network address: try again in "
                f"{minutes} minute(s)."
            )


def record_failure(
    session: Session, username: str, address: str | None, *, now: datetime | None = None
) -> list[str]:
    """Count a failed sign-in; the kinds ("account", "address") it locked."""
    now = _now(now)
    # Housekeeping: counts past their window and ended locks go (guessed names too).
    session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.window_start < now - WINDOW - LOCKOUT,
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < now),
        )
    )
    locked = []
    for kind, key in _keys(username, address):
        session.execute(
            insert(LoginThrottle)
            .values(kind=kind, key=key, failures=0, window_start=now)
            .on_conflict_do_nothing()
        )
        row = session.scalar(
            select(LoginThrottle)
            .where(LoginThrottle.kind == kind, LoginThrottle.key == key)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert row is not None
        if row.window_start < now - WINDOW:
            row.failures, row.window_start = 0, now
        row.failures += 1
        limit = ACCOUNT_LIMIT if kind == ACCOUNT else ADDRESS_LIMIT
        if row.failures >= limit and (row.locked_until is None or row.locked_until <= now):
            row.locked_until = now + LOCKOUT
            row.failures, row.window_start = 0, now
            locked.append(kind)
    return locked


def record_success(session: Session, username: str) -> None:
    session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.kind == ACCOUNT, LoginThrottle.key == username.strip().lower()
        )
    )


def list_locks(session: Session, *, now: datetime | None = None) -> list[Lock]:
    rows = session.scalars(
        select(LoginThrottle)
        .where(LoginThrottle.locked_until > _now(now))
        .order_by(LoginThrottle.kind, LoginThrottle.key)
    ).all()
    return [Lock(r.kind, r.key, r.failures, r.locked_until) for r in rows if r.locked_until]


def unlock(session: Session, username: str, *, actor: UserInfo) -> bool:
    """Clear an account's failed sign-ins and lock (admins only); False if it had none."""
    require(actor, Action.manage_users)
    name = username.strip().lower()
    if not name:
        raise InvalidInputError("name the account to unlock")
    result = session.execute(
        delete(LoginThrottle).where(LoginThrottle.kind == ACCOUNT, LoginThrottle.key == name)
    )
    cleared = bool(result.rowcount)  # type: ignore[attr-defined]
    user_id = session.scalar(select(User.id).where(User.username == name))
    if cleared:
        audit(session, actor=actor.username, user_id=actor.id, action="user.unlock",
              entity="user", entity_id=user_id or name, details={"username": name})  # fmt: skip
    return cleared
