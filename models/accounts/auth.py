"""Accounts: argon2 password hashes, roles, sign-in.

Usernames are stored lower-case so "Alice" and "alice" cannot be two people.
Passwords are never logged or stored; only argon2id hashes (argon2-cffi's
defaults, RFC 9106). A hash made with older parameters is upgraded at the next
successful sign-in (`check_needs_rehash`).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from rubricforge.models.accounts.common_passwords import COMMON_PASSWORDS
from rubricforge.models.accounts.orm import Role, User, UserSession
from rubricforge.models.accounts.permissions import Action, UserInfo, require
from rubricforge.models.core.audit import audit
from rubricforge.models.core.errors import InvalidInputError, NotFoundError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

MIN_PASSWORD_LENGTH = 8
# Long enough for any passphrase, short enough that nobody makes us hash megabytes.
MAX_PASSWORD_LENGTH = 1024
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.@-]{0,63}$")

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """A hash to verify against when the user is unknown, so that an unknown
    name costs as long as a wrong password and timing does not reveal who exists."""
    return _hasher.hash("rubricforge-no-such-user")


@dataclass(frozen=True)
class UserRow:
    """A user as the admin page and `rubricforge user list` show it."""

    id: int
    username: str
    display_name: str
    role: Role
    is_active: bool
    created_at: datetime


def hash_password(password: str) -> str:
    """argon2id hash of a password that passed `check_password`."""
    return _hasher.hash(password)


def normalize_username(username: str) -> str:
    return username.strip().lower()


def parse_role(role: Role | str) -> Role:
    if isinstance(role, Role):
        return role
    try:
        return Role(role.strip().lower())
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise InvalidInputError(f"unknown role {role!r}; choose one of: {choices}") from None


def check_password(password: str) -> None:
    """The password policy: 8 to 1024 characters (NIST SP 800-63B's minimum) and not
    one of the most common passwords (a small built-in list, `common_passwords`),
    nor one of those with digits or symbols added, nor one character repeated."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(
            f"password too short: use at least {MIN_PASSWORD_LENGTH} characters"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInputError(f"password too long: use at most {MAX_PASSWORD_LENGTH} characters")
    lowered = password.strip().lower()
    stem = lowered.rstrip("0123456789!@#$%^&*()_-+=.,?~ ")
    if lowered in COMMON_PASSWORDS or stem in COMMON_PASSWORDS or len(set(lowered)) == 1:
        raise InvalidInputError(
            "password too common: it is on the list of the most used passwords; "
            "choose a longer phrase of unrelated words"
        )


def _info(user: User) -> UserInfo:
    return UserInfo(id=user.id, username=user.username, role=user.role)


def _log(session: Session, actor: UserInfo, action: str, user: User, **details: object) -> None:
    audit(
        session,
        actor=actor.username,
        user_id=actor.id,
        action=action,
        entity="user",
        entity_id=user.id,
        details={"username": user.username, **details},
    )


def _find(session: Session, username: str, *, for_update: bool = False) -> User:
    stmt = select(User).where(User.username == normalize_username(username))
    if for_update:
        stmt = stmt.with_for_update()
    user = session.scalar(stmt)
    if user is None:
        raise NotFoundError(f"no user named {username!r}; `rubricforge user list` shows them")
    return user


def add_user(
    session: Session,
    username: str,
    role: Role | str,
    password: str,
    *,
    actor: UserInfo,
    display_name: str = "",
) -> UserInfo:
    """Create an account. Admins only; the first admin is made with the CLI."""
    require(actor, Action.manage_users)
    name = normalize_username(username)
    if not USERNAME_RE.match(name):
        raise InvalidInputError(
            f"invalid username {username!r}: use 1-64 letters, digits, '_', '.', '@' or '-', "
            "starting with a letter or digit"
        )
    parsed_role = parse_role(role)
    check_password(password)
    if session.scalar(select(User.id).where(User.username == name)) is not None:
        raise InvalidInputError(f"username {name!r} is taken; choose another")
    user = User(
        username=name,
        display_name=display_name.strip(),
        role=parsed_role,
        password_hash=hash_password(password),
        is_active=True,
    )
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # someone took the name between our check and the insert
        raise InvalidInputError(f"username {name!r} is taken; choose another") from None
    _log(session, actor, "user.add", user, role=parsed_role.value)
    return _info(user)


def set_password(session: Session, username: str, password: str, *, actor: UserInfo) -> None:
    """Change a password: your own, or anyone's if you are an admin."""
    if normalize_username(username) != actor.username:
        # Refused before the lookup: a non-admin learns nothing about who exists.
        require(actor, Action.manage_users)
    user = _find(session, username, for_update=True)
    check_password(password)
    user.password_hash = hash_password(password)
    revoked = revoke_user_sessions(session, user.id)
    _log(session, actor, "user.passwd", user, sessions_revoked=revoked)


def _set_active(session: Session, username: str, active: bool, *, actor: UserInfo) -> bool:
    require(actor, Action.manage_users)
    user = _find(session, username, for_update=True)
    if user.is_active == active:
        return False
    if not active and user.role is Role.admin:
        # Lock every admin row so two admins cannot disable each other at once.
        admins = session.scalars(
            select(User.id).where(User.role == Role.admin, User.is_active).with_for_update()
        ).all()
        if list(admins) == [user.id]:
            raise InvalidInputError(
                f"{user.username} is the last active admin; add or enable another admin first"
            )
    user.is_active = active
    if not active:
        revoke_user_sessions(session, user.id)
    _log(session, actor, "user.enable" if active else "user.disable", user)
    return True


def disable_user(session: Session, username: str, *, actor: UserInfo) -> bool:
    """Stop an account from signing in (its history stays). False if already disabled."""
    return _set_active(session, username, False, actor=actor)


def enable_user(session: Session, username: str, *, actor: UserInfo) -> bool:
    """Let a disabled account sign in again. False if it was already active."""
    return _set_active(session, username, True, actor=actor)


def authenticate(
    session: Session, username: str, password: str, *, address: str | None = None
) -> UserInfo | None:
    """The user for this name and password, or None (unknown, wrong, disabled).

    Every path verifies one argon2 hash, so the time taken does not say which
    of the three it was. Failed sign-ins of existing accounts are audited; an
    unknown name is not, since it is often a password typed in the wrong field.
    Failures count towards a lock of the name and of the network `address`
    (`throttle`); while either is locked, SignInLockedError and no check at all.
    """
    from rubricforge.models.accounts import throttle

    throttle.check_not_locked(session, username, address)
    user = session.scalar(select(User).where(User.username == normalize_username(username)))
    if user is None or user.password_hash is None:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_dummy_hash(), password)
        throttle.record_failure(session, username, address)
        return None
    try:
        _hasher.verify(user.password_hash, password)
        ok = True
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or not user.is_active:
        _log(session, _info(user), "user.login_refused" if ok else "user.login_failed", user)
        if not ok and "account" in throttle.record_failure(session, username, address):
            _log(session, _info(user), "user.locked", user)
        return None
    throttle.record_success(session, username)
    rehash = _hasher.check_needs_rehash(user.password_hash)
    if rehash:
        user.password_hash = hash_password(password)
    _log(session, _info(user), "user.login", user, rehashed=rehash)
    return _info(user)


def revoke_user_sessions(session: Session, user_id: int) -> int:
    """End every sign-in session of a user (disabled, or a new password); how many."""
    result = session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC), handoff_hash=None)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def get_active_user(session: Session, user_id: int) -> UserInfo | None:
    """The user behind a session, re-read on every page so a disabled or
    re-roled account takes effect at once. None if gone or disabled."""
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        return None
    return _info(user)


def list_users(session: Session) -> list[UserRow]:
    rows = session.scalars(select(User).order_by(User.username)).all()
    return [
        UserRow(
            id=u.id,
            username=u.username,
            display_name=u.display_name,
            role=u.role,
            is_active=u.is_active,
            created_at=u.created_at,
        )
        for u in rows
    ]
