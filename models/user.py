"""People who use rubricforge and the LLM endpoints an admin configures."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, CreatedAt, str_enum


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


class LLMEndpoint(CreatedAt, Base):
    """An OpenAI-compatible endpoint. The API key itself is never stored: only the
    name of the environment variable that holds it."""

    __tablename__ = "llm_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    base_url: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(200))
    api_key_env: Mapped[str | None] = mapped_column(String(100))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
