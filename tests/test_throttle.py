"""Sign-in throttling and the password policy (models.accounts.throttle, auth)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from rubricforge.models.accounts.auth import add_user, authenticate, check_password
from rubricforge.models.accounts.orm import Role, User
from rubricforge.models.accounts.permissions import OPERATOR, UserInfo
from rubricforge.models.accounts.throttle import (
    ACCOUNT_LIMIT,
    ADDRESS_LIMIT,
    LOCKOUT,
    check_not_locked,
    list_locks,
    record_failure,
    unlock,
)
from rubricforge.models.core.audit import AuditEntry
from rubricforge.models.core.errors import InvalidInputError, PermissionDenied, SignInLockedError
from rubricforge.models.demo.loader import load_demo
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from rubricforge.cli import app

pytestmark = pytest.mark.db
PW = "correct horse battery"


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        add_user(s, "alice", "expert", PW, actor=OPERATOR)
        s.commit()
        yield s


def fail(session: Session, times: int, username: str = "alice", address: str = "10.0.0.1") -> None:
    for _ in range(times):
        assert authenticate(session, username, "wrong password", address=address) is None
        session.commit()


def test_an_account_locks_after_repeated_failures(session: Session) -> None:
    fail(session, ACCOUNT_LIMIT - 1)
    assert authenticate(session, "alice", PW, address="10.0.0.1") is not None, "not yet"
    session.commit()
    # The success cleared the count: the limit starts again.
    fail(session, ACCOUNT_LIMIT)
    with pytest.raises(SignInLockedError, match="rubricforge user unlock alice"):
        authenticate(session, "Alice", PW, address="10.9.9.9")  # any address, any case
    session.rollback()
    actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions.count("user.locked") == 1
    # The lock ends by itself after LOCKOUT.
    later = datetime.now(UTC) + LOCKOUT + timedelta(seconds=1)
    check_not_locked(session, "alice", None, now=later)


def test_unknown_names_lock_too_so_a_lock_reveals_no_account(session: Session) -> None:
    fail(session, ACCOUNT_LIMIT, username="nobody")
    with pytest.raises(SignInLockedError, match="this account"):
        authenticate(session, "nobody", PW, address="10.0.0.2")


def test_an_address_locks_after_many_failures_on_many_names(session: Session) -> None:
    for i in range(ADDRESS_LIMIT):
        assert authenticate(session, f"guess{i}", "x" * 9, address="10.6.6.6") is None
        session.commit()
    with pytest.raises(SignInLockedError, match="network address"):
        authenticate(session, "alice", PW, address="10.6.6.6")
    session.rollback()
    assert authenticate(session, "alice", PW, address="10.0.0.7") is not None


def test_failures_outside_the_window_do_not_count(session: Session) -> None:
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    for _ in range(ACCOUNT_LIMIT - 1):
        record_failure(session, "alice", None, now=long_ago)
    session.commit()
    fail(session, 1)
    assert authenticate(session, "alice", PW) is not None


def test_an_admin_unlocks_an_account(session: Session, engine: Engine) -> None:
    fail(session, ACCOUNT_LIMIT)
    assert [(lock.kind, lock.key) for lock in list_locks(session)] == [("account", "alice")]
    with pytest.raises(PermissionDenied):
        unlock(session, "alice", actor=UserInfo(id=None, username="x", role=Role.expert))
    session.rollback()
    with pytest.raises(InvalidInputError, match="name the account"):
        unlock(session, " ", actor=OPERATOR)
    session.rollback()

    result = CliRunner().invoke(
        app, ["user", "unlock", "Alice"], env={"DATABASE_URL": engine.url.render_as_string(False)}
    )
    assert result.exit_code == 0 and "unlocked alice" in result.output, result.output
    session.expire_all()
    assert list_locks(session) == []
    assert authenticate(session, "alice", PW, address="10.0.0.1") is not None
    result = CliRunner().invoke(
        app, ["user", "unlock", "alice"], env={"DATABASE_URL": engine.url.render_as_string(False)}
    )
    assert result.exit_code == 0 and "alice was not locked" in result.output


@pytest.mark.parametrize(
    "password",
    [
        "12345678",
        "password",
        "Password123!",
        "qwertyuiop",
        "iloveyou2024",
        "aaaaaaaaaa",
        "Summer2025",
    ],
)
def test_common_passwords_are_refused(password: str) -> None:
    with pytest.raises(InvalidInputError, match="too common"):
        check_password(password)


def test_short_passwords_are_refused_and_passphrases_pass() -> None:
    with pytest.raises(InvalidInputError, match="too short"):
        check_password("k7#pQ2")
    check_password("correct horse battery")
    check_password("rootroot1")


def test_a_common_password_is_refused_for_an_admin_and_nothing_is_written(
    session: Session,
) -> None:
    with pytest.raises(InvalidInputError, match="too common"):
        add_user(session, "boss", "admin", "12345678", actor=OPERATOR)
    session.rollback()
    assert session.scalar(select(User).where(User.username == "boss")) is None


def test_demo_accounts_have_a_hash_each(engine: Engine) -> None:
    load_demo(engine, password="demo-passphrase")
    with Session(engine) as s:
        hashes = s.scalars(select(User.password_hash)).all()
    assert len(hashes) == 6 and len(set(hashes)) == 6


def test_old_counts_are_cleared_away(session: Session) -> None:
    from rubricforge.models.accounts.orm import LoginThrottle

    long_ago = datetime.now(UTC) - timedelta(days=1)
    for i in range(3):
        record_failure(session, f"guess{i}", "10.1.1.1", now=long_ago)
    session.commit()
    fail(session, 1)
    keys = set(session.scalars(select(LoginThrottle.key)).all())
    assert keys == {"alice", "10.0.0.1"}
