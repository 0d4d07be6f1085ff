"""People who use rubricforge and their roles."""

from __future__ import annotations

import enum
from datetime import datetime

from rubricforge.models.core.base import Base, CreatedAt, str_enum
from sqlalchemy import DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column


class Role(str, enum.Enum):
    admin = "admin"
    expert = "expert"
    annotator = "annotator"
    researcher = "researcher"


class User(CreatedAt, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"))
    # argon2/bcrypt hash; NULL means the account cannot log in with a password (e.g. OIDC only).
    password_hash: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(default=True)


class UserSession(CreatedAt, Base):
    """A browser's sign-in, revocable here: the cookie carries a signed token whose
    SHA-256 is `token_hash`. Until the browser claims it, only `handoff_hash` (a
    one-time code, valid a minute) is set; claiming clears it and sets `token_hash`."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    handoff_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # SHA-256 of the browser's XSRF token at sign-in: only that browser may claim the
    # code (a sign-in link sent to someone else signs nobody in). NULL: XSRF is off.
    browser_hash: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LoginThrottle(Base):
    """Recent failed sign-ins of one account or one network address, and the
    lockout they caused. A success (account) or an admin's unlock clears the row."""

    __tablename__ = "login_throttles"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # "account" | "address"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
