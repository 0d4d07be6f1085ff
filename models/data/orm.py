"""Immutable export snapshots: a frozen set of approved rubric versions."""

from __future__ import annotations

from typing import Any

from rubricforge.models.core.base import Base, CreatedAt
from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column


class ExportSnapshot(CreatedAt, Base):
    __tablename__ = "export_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    filter: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # sha256 over the canonical RaR-shaped rows, in order.
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    row_count: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class SnapshotItem(Base):
    __tablename__ = "snapshot_items"

    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("export_snapshots.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(primary_key=True)
    rubric_version_id: Mapped[int] = mapped_column(ForeignKey("rubric_versions.id"), index=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id"))
