"""Datasets of prompts, each prompt with its reference answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, CreatedAt

if TYPE_CHECKING:
    from .rubric import Rubric


class Dataset(CreatedAt, Base):
    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    prompts: Mapped[list[Prompt]] = relationship(back_populates="dataset", lazy="raise")


class Prompt(CreatedAt, Base):
    __tablename__ = "prompts"
    __table_args__ = (
        UniqueConstraint("dataset_id", "external_id"),
        Index("ix_prompts_tags", "tags", postgresql_using="gin"),
        Index("ix_prompts_dataset_id_id", "dataset_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(200))
    question: Mapped[str] = mapped_column(Text)
    reference_answer: Mapped[str] = mapped_column(Text, default="")
    # HealthBench prompts are conversations; RaR prompts are a single user turn.
    messages: Mapped[list[Any] | None] = mapped_column()
    source: Mapped[str] = mapped_column(String(300), default="")
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(100)), default=list)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)

    dataset: Mapped[Dataset] = relationship(back_populates="prompts", lazy="raise")
    rubric: Mapped[Rubric | None] = relationship(back_populates="prompt", lazy="raise")
