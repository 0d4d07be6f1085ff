"""People who use rubricforge and their roles."""

from __future__ import annotations

import enum

from rubricforge.models.core.base import Base, CreatedAt, str_enum
from sqlalchemy import String, Text
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
