"""`rubricforge user ...`: accounts and roles, locks and passwords."""

from __future__ import annotations

from typing import Annotated

import typer

from rubricforge.models.accounts.permissions import OPERATOR

from .cli_common import migrated_engine as _migrated_engine
from .cli_common import user_errors

user_app = typer.Typer(
    help="Accounts: add, change password, disable, unlock, list.", no_args_is_help=True
)

PasswordOption = Annotated[
    str,
    typer.Option(
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        envvar="RUBRICFORGE_PASSWORD",
        help="Asked for when not given (never echoed); or set RUBRICFORGE_PASSWORD.",
    ),
]


@user_app.command("add")
@user_errors
def user_add(
    username: str,
    role: Annotated[str, typer.Option(help="admin, expert, annotator or researcher")],
    password: PasswordOption,
    display_name: Annotated[str, typer.Option(help="Name shown in the app")] = "",
) -> None:
    """Create an account (the first admin is made this way)."""
    from rubricforge.models.accounts.auth import add_user
    from rubricforge.models.core.db import session_scope

    with session_scope(_migrated_engine()) as session:
        user = add_user(
            session, username, role, password, actor=OPERATOR, display_name=display_name
        )
    typer.echo(f"added {user.username} ({user.role.value})")


@user_app.command("passwd")
@user_errors
def user_passwd(username: str, password: PasswordOption) -> None:
    """Set a new password for USERNAME."""
    from rubricforge.models.accounts.auth import set_password
    from rubricforge.models.core.db import session_scope

    with session_scope(_migrated_engine()) as session:
        set_password(session, username, password, actor=OPERATOR)
    typer.echo(f"password changed for {username.strip().lower()}")


@user_app.command("disable")
@user_errors
def user_disable(username: str) -> None:
    """Stop USERNAME from signing in; their work and history stay."""
    from rubricforge.models.accounts.auth import disable_user
    from rubricforge.models.core.db import session_scope

    with session_scope(_migrated_engine()) as session:
        changed = disable_user(session, username, actor=OPERATOR)
    typer.echo(f"{'disabled' if changed else 'already disabled:'} {username.strip().lower()}")


@user_app.command("enable")
@user_errors
def user_enable(username: str) -> None:
    """Let a disabled USERNAME sign in again."""
    from rubricforge.models.accounts.auth import enable_user
    from rubricforge.models.core.db import session_scope

    with session_scope(_migrated_engine()) as session:
        changed = enable_user(session, username, actor=OPERATOR)
    typer.echo(f"{'enabled' if changed else 'already enabled:'} {username.strip().lower()}")


@user_app.command("unlock")
@user_errors
def user_unlock(username: str) -> None:
    """Clear USERNAME's lock after too many failed sign-ins."""
    from rubricforge.models.accounts.throttle import unlock
    from rubricforge.models.core.db import session_scope

    with session_scope(_migrated_engine()) as session:
        cleared = unlock(session, username, actor=OPERATOR)
    name = username.strip().lower()
    typer.echo(f"unlocked {name}" if cleared else f"{name} was not locked")


@user_app.command("list")
@user_errors
def user_list() -> None:
    """List accounts with their role and whether they can sign in."""
    from rubricforge.models.accounts.auth import list_users
    from rubricforge.models.core.db import session_scope

    with session_scope(_migrated_engine()) as session:
        users = list_users(session)
    for u in users:
        state = "active" if u.is_active else "disabled"
        typer.echo(f"{u.username:24s} {u.role.value:11s} {state:9s} {u.display_name}")
