"""Append-only audit log. The migration adds a trigger that refuses UPDATE and DELETE."""

from __future__ import annotations

from typing import Any

from rubricforge.models.core.base import Base, CreatedAt
from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, Session, mapped_column


class AuditEntry(CreatedAt, Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity_entity_id", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(100))  # username, or "cli"/"system"
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


def audit(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: object,
    details: dict[str, Any] | None = None,
    user_id: int | None = None,
) -> None:
    session.add(
        AuditEntry(
            user_id=user_id,
            actor=actor,
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            details=details or {},
        )
    )
