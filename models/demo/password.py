"""A new password for the demo accounts, for whoever lost the one `demo` printed.

The first password is shown once and stored only as hashes, so it cannot be
shown again; this sets a fresh one instead. Only accounts the demo loader itself
created (its audit entries name them) are touched: an existing account that
happened to share a demo name was left alone by the loader and is left alone
here. Their sessions are revoked, as with any password change.
"""

from __future__ import annotations

import secrets

from rubricforge.models.accounts.auth import set_password
from rubricforge.models.accounts.orm import User
from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.core.audit import AuditEntry
from rubricforge.models.core.db import session_scope
from rubricforge.models.core.errors import InvalidInputError
from sqlalchemy import Engine, select


def demo_accounts(engine: Engine) -> list[str]:
    """The accounts the demo loader added that still exist, sorted."""
    with session_scope(engine) as s:
        added: set[str] = set()
        for details in s.scalars(
            select(AuditEntry.details).where(AuditEntry.action == "load_demo")
        ):
            added.update(str(u) for u in (details or {}).get("users", []))
        existing = s.scalars(select(User.username).where(User.username.in_(added)))
        return sorted(existing)


def reset_demo_password(engine: Engine, password: str | None = None) -> tuple[list[str], str]:
    """Give every demo account `password` (or a random one); return (accounts, password).
    Nothing changes when the demo was never loaded or the password is refused."""
    names = demo_accounts(engine)
    if not names:
        raise InvalidInputError(
            "no demo accounts to reset: load the demo first with: rubricforge demo"
        )
    password = password or secrets.token_urlsafe(9)
    with session_scope(engine) as s:  # one transaction: all accounts or none
        for name in names:
            set_password(s, name, password, actor=OPERATOR)
    return names, password


def password_block(names: list[str], password: str) -> str:
    """The lines that show demo credentials, set apart so they are easy to find."""
    return (
        f"\n  Demo accounts: {', '.join(names)}\n"
        f"  Password:      {password}\n"
        "  (shown only now; rubricforge demo --reset-password sets a new one)\n"
    )
