"""Accounts on real Postgres: argon2 hashes, sign-in, roles, the permission
table, audit entries, and the `rubricforge user` commands."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from rubricforge.models.accounts.auth import (
    add_user,
    authenticate,
    disable_user,
    enable_user,
    get_active_user,
    list_users,
    set_password,
)
from rubricforge.models.accounts.orm import Role, User
from rubricforge.models.accounts.permissions import (
    OPERATOR,
    PERMISSIONS,
    Action,
    UserInfo,
    can,
    require,
)
from rubricforge.models.core.audit import AuditEntry
from rubricforge.models.core.errors import InvalidInputError, NotFoundError, PermissionDenied
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from rubricforge.cli import app

PW = "correct horse battery"


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session whose writes are committed, so a later session sees them."""
    with Session(engine, expire_on_commit=False) as s:
        yield s


def audit_actions(engine: Engine) -> list[tuple[str, str, str]]:
    with Session(engine) as s:
        rows = s.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.entity_id).order_by(
                AuditEntry.id
            )
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def user_count(engine: Engine) -> int:
    with Session(engine) as s:
        return s.scalar(select(func.count()).select_from(User)) or 0


def make(session: Session, name: str, role: Role, password: str = PW) -> UserInfo:
    with session.begin():
        return add_user(session, name, role, password, actor=OPERATOR)


def test_add_and_sign_in(engine: Engine, session: Session) -> None:
    alice = make(session, "Alice", Role.expert)
    assert alice == UserInfo(id=alice.id, username="alice", role=Role.expert)
    with session.begin():
        stored = session.scalars(select(User.password_hash)).one()
    assert stored is not None and stored.startswith("$argon2id$") and PW not in stored

    with session.begin():
        assert authenticate(session, "ALICE ", PW) == alice
        assert authenticate(session, "alice", PW + "!") is None
        assert authenticate(session, "nobody", PW) is None
    assert audit_actions(engine) == [
        ("cli", "user.add", str(alice.id)),
        ("alice", "user.login", str(alice.id)),
        ("alice", "user.login_failed", str(alice.id)),
    ]  # the unknown name is not logged: it is often a password typed in the wrong box


@pytest.mark.parametrize(
    ("username", "role", "password", "message"),
    [
        ("bob", Role.expert, "short", "at least 8 characters"),
        ("bob", Role.expert, "x" * 1025, "at most 1024"),
        ("bob smith", Role.expert, PW, "invalid username"),
        ("", Role.expert, PW, "invalid username"),
        ("bob", "doctor", PW, "unknown role 'doctor'; choose one of: admin, expert"),
    ],
)
def test_bad_account_input_is_refused_and_writes_nothing(
    engine: Engine, session: Session, username: str, role: Role | str, password: str, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message), session.begin():
        add_user(session, username, role, password, actor=OPERATOR)
    assert user_count(engine) == 0 and audit_actions(engine) == []


def test_duplicate_username_is_refused(engine: Engine, session: Session) -> None:
    make(session, "carol", Role.annotator)
    with pytest.raises(InvalidInputError, match="username 'carol' is taken"), session.begin():
        add_user(session, "Carol", Role.expert, PW, actor=OPERATOR)
    assert user_count(engine) == 1


def test_only_admins_manage_users(session: Session) -> None:
    expert = make(session, "erin", Role.expert)
    denied = r"erin \(expert\) may not manage users; that needs the role admin"
    with pytest.raises(PermissionDenied, match=denied), session.begin():
        add_user(session, "mallory", Role.admin, PW, actor=expert)
    with pytest.raises(PermissionDenied), session.begin():
        disable_user(session, "erin", actor=expert)


def test_disabled_user_cannot_sign_in_until_enabled(engine: Engine, session: Session) -> None:
    admin = make(session, "root", Role.admin)
    dave = make(session, "dave", Role.researcher)
    with session.begin():
        assert disable_user(session, "dave", actor=admin) is True
        assert disable_user(session, "dave", actor=admin) is False  # already: no second entry
    with session.begin():
        assert authenticate(session, "dave", PW) is None
        assert get_active_user(session, dave.id or 0) is None
    with session.begin():
        enable_user(session, "dave", actor=admin)
        assert authenticate(session, "dave", PW) == dave
    actions = [a for _, a, _ in audit_actions(engine)]
    assert actions == [
        "user.add",
        "user.add",
        "user.disable",
        "user.login_refused",
        "user.enable",
        "user.login",
    ]


def test_last_active_admin_cannot_be_disabled(session: Session) -> None:
    root = make(session, "root", Role.admin)
    with pytest.raises(InvalidInputError, match="last active admin"), session.begin():
        disable_user(session, "root", actor=root)
    make(session, "second", Role.admin)
    with session.begin():
        assert disable_user(session, "root", actor=OPERATOR)


def test_unknown_user_is_a_clear_error(session: Session) -> None:
    with pytest.raises(NotFoundError, match="no user named 'ghost'"), session.begin():
        set_password(session, "ghost", PW, actor=OPERATOR)


def test_passwords_change_by_self_or_admin_only(session: Session) -> None:
    frank = make(session, "frank", Role.annotator)
    make(session, "grace", Role.annotator)
    with pytest.raises(PermissionDenied), session.begin():
        set_password(session, "grace", "new password 1", actor=frank)
    with pytest.raises(InvalidInputError, match="too short"), session.begin():
        set_password(session, "frank", "short", actor=frank)
    with session.begin():
        set_password(session, "frank", "new password 1", actor=frank)
    with session.begin():
        assert authenticate(session, "frank", PW) is None
        assert authenticate(session, "frank", "new password 1") == frank


def test_old_hash_parameters_are_upgraded_at_sign_in(engine: Engine, session: Session) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    with session.begin():
        session.add(User(username="old", role=Role.expert, password_hash=weak.hash(PW)))
    with session.begin():
        assert authenticate(session, "old", PW) is not None
        new_hash = session.scalars(select(User.password_hash)).one()
    assert new_hash is not None and not PasswordHasher().check_needs_rehash(new_hash)
    with Session(engine) as s:
        details = s.scalars(select(AuditEntry.details)).one()
    assert details == {"username": "old", "rehashed": True}


def test_permission_table() -> None:
    def who(action: Action) -> set[str]:
        return {r.value for r in PERMISSIONS[action]}

    assert who(Action.edit_rubric) == who(Action.review_rubric) == {"admin", "expert"}
    assert who(Action.label) == {"admin", "annotator"}
    assert who(Action.export) == who(Action.train) == {"admin", "researcher"}
    assert who(Action.manage_users) == who(Action.manage_endpoints) == {"admin"}
    assert set(PERMISSIONS) == set(Action)  # every action has a row
    annotator = UserInfo(1, "ann", Role.annotator)
    assert can(annotator, Action.label) and not can(annotator, Action.edit_rubric)
    with pytest.raises(PermissionDenied, match=r"ann \(annotator\) may not edit rubric"):
        require(annotator, Action.edit_rubric)


def test_list_users(session: Session) -> None:
    make(session, "zed", Role.researcher)
    make(session, "amy", Role.expert)
    with session.begin():
        disable_user(session, "zed", actor=OPERATOR)
        rows = list_users(session)
    assert [(u.username, u.role, u.is_active) for u in rows] == [
        ("amy", Role.expert, True),
        ("zed", Role.researcher, False),
    ]


def test_cli_user_commands(db_url: str, engine: Engine) -> None:
    runner = CliRunner()
    env = {"DATABASE_URL": db_url, "RUBRICFORGE_PASSWORD": ""}

    def run(*args: str, input: str | None = None) -> tuple[int, str]:
        result = runner.invoke(app, ["user", *args], env=env, input=input)
        return result.exit_code, result.output

    # The password from a hidden prompt, asked twice.
    code, out = run("add", "Hana", "--role", "expert", input=f"{PW}\n{PW}\n")
    assert code == 0, out
    assert "added hana (expert)" in out and PW not in out
    code, out = run("add", "root", "--role", "admin", "--password", "rootroot1")
    assert code == 0 and "rootroot1" not in out

    code, out = run("add", "hana", "--role", "expert", "--password", PW)
    assert code == 1 and "error: username 'hana' is taken" in out and "Traceback" not in out
    code, out = run("add", "ivan", "--role", "expert", "--password", "short")
    assert code == 1 and "password too short" in out

    code, out = run("passwd", "hana", input="brand new pass\nbrand new pass\n")
    assert code == 0 and "password changed for hana" in out and "brand new pass" not in out
    code, out = run("disable", "hana")
    assert code == 0 and "disabled hana" in out
    code, out = run("passwd", "ghost", "--password", PW)
    assert code == 1 and "no user named 'ghost'" in out

    code, out = run("list")
    assert code == 0
    assert [line.split()[:3] for line in out.splitlines()] == [
        ["hana", "expert", "disabled"],
        ["root", "admin", "active"],
    ]
    with Session(engine) as s:
        assert authenticate(s, "hana", "brand new pass") is None  # disabled
        s.execute(select(User).where(User.username == "hana")).scalar_one().is_active = True
        assert authenticate(s, "hana", "brand new pass") is not None
        assert authenticate(s, "hana", PW) is None
    assert [a for _, a, _ in audit_actions(engine)] == [
        "user.add",
        "user.add",
        "user.passwd",
        "user.disable",
    ]
