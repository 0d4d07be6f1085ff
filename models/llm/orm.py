"""The LLM endpoints an admin configures."""

from __future__ import annotations

from typing import Any

from rubricforge.models.core.base import Base, CreatedAt
from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column


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
