"""Datasets of prompts (each with its reference answer), their rubrics, the rubrics'
immutable versions and ordered criteria, and review events.

A rubric belongs to one prompt. Its head points at the newest version; an edit
never changes a version, it makes a new one. Approval points at a version, and
stays on record when the rubric is edited again.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from rubricforge.models.core.base import Base, CreatedAt, str_enum
from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship


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
        # Search: ILIKE '%word%' served by trigram indexes (migration 0011, pg_trgm).
        Index("ix_prompts_question_trgm", "question", postgresql_using="gin",
              postgresql_ops={"question": "gin_trgm_ops"}),
        Index("ix_prompts_reference_answer_trgm", "reference_answer", postgresql_using="gin",
              postgresql_ops={"reference_answer": "gin_trgm_ops"}),
    )  # fmt: skip

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


class RubricStatus(str, enum.Enum):
    draft = "draft"
    in_review = "in_review"
    approved = "approved"
    rejected = "rejected"
    retired = "retired"


class Category(str, enum.Enum):
    essential = "Essential"
    important = "Important"
    optional = "Optional"
    pitfall = "Pitfall"


class VersionSource(str, enum.Enum):
    import_ = "import"
    llm = "llm"
    human = "human"
    merge = "merge"
    demo = "demo"


class ReviewAction(str, enum.Enum):
    submit = "submit"
    approve = "approve"
    reject = "reject"
    reopen = "reopen"
    retire = "retire"


class Rubric(Base):
    __tablename__ = "rubrics"
    __table_args__ = (Index("ix_rubrics_status_prompt_id", "status", "prompt_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_id: Mapped[int] = mapped_column(
        ForeignKey("prompts.id", ondelete="CASCADE"), unique=True
    )
    status: Mapped[RubricStatus] = mapped_column(
        str_enum(RubricStatus, "rubric_status"), default=RubricStatus.draft
    )
    head_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("rubric_versions.id", use_alter=True, name="fk_rubrics_head_version_id")
    )
    approved_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("rubric_versions.id", use_alter=True, name="fk_rubrics_approved_version_id")
    )
    # Optimistic lock: every write bumps it; a save carrying an older number is refused.
    lock_version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __mapper_args__ = {"version_id_col": lock_version}

    prompt: Mapped[Prompt] = relationship(back_populates="rubric", lazy="raise")
    versions: Mapped[list[RubricVersion]] = relationship(
        back_populates="rubric",
        foreign_keys="RubricVersion.rubric_id",
        order_by="RubricVersion.number",
        lazy="raise",
    )
    head_version: Mapped[RubricVersion | None] = relationship(
        foreign_keys=[head_version_id], lazy="raise", post_update=True
    )


class RubricVersion(CreatedAt, Base):
    __tablename__ = "rubric_versions"
    __table_args__ = (UniqueConstraint("rubric_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rubric_id: Mapped[int] = mapped_column(ForeignKey("rubrics.id", ondelete="CASCADE"))
    number: Mapped[int]
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("rubric_versions.id"))
    source: Mapped[VersionSource] = mapped_column(str_enum(VersionSource, "version_source"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    llm_model: Mapped[str | None] = mapped_column(String(200))
    template_hash: Mapped[str | None] = mapped_column(String(64))
    # sha256 of the canonical criteria list: equal content, equal hash.
    content_hash: Mapped[str] = mapped_column(String(64), index=True)

    rubric: Mapped[Rubric] = relationship(
        back_populates="versions", foreign_keys=[rubric_id], lazy="raise"
    )
    criteria: Mapped[list[Criterion]] = relationship(
        back_populates="version", order_by="Criterion.position", lazy="raise"
    )


class Criterion(Base):
    __tablename__ = "criteria"
    __table_args__ = (
        UniqueConstraint("version_id", "position"),
        CheckConstraint("length(btrim(description)) > 0", name="description_not_empty"),
        Index("ix_criteria_title_trgm", "title", postgresql_using="gin",
              postgresql_ops={"title": "gin_trgm_ops"}),
        Index("ix_criteria_description_trgm", "description", postgresql_using="gin",
              postgresql_ops={"description": "gin_trgm_ops"}),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("rubric_versions.id", ondelete="CASCADE"))
    position: Mapped[int]
    # Stable identity of "the same criterion" across versions (kept through edits),
    # so agreement, revision requests and verdict flips can follow it.
    key: Mapped[str] = mapped_column(String(32), index=True)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    category: Mapped[Category] = mapped_column(str_enum(Category, "category"))
    weight: Mapped[float] = mapped_column(Float)
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(100)), default=list)
    # Lint findings computed when the version was made (e.g. "polarity:avoidance").
    flags: Mapped[list[str]] = mapped_column(ARRAY(String(100)), default=list)

    version: Mapped[RubricVersion] = relationship(back_populates="criteria", lazy="raise")


class RubricReview(CreatedAt, Base):
    """Workflow events: submit, approve, reject (with comment), reopen, retire."""

    __tablename__ = "rubric_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    rubric_id: Mapped[int] = mapped_column(ForeignKey("rubrics.id", ondelete="CASCADE"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("rubric_versions.id"))
    action: Mapped[ReviewAction] = mapped_column(str_enum(ReviewAction, "review_action"))
    comment: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class RevisionRequest(CreatedAt, Base):
    """A criterion sent back to its expert, e.g. because judge and humans disagree on it."""

    __tablename__ = "revision_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    rubric_id: Mapped[int] = mapped_column(ForeignKey("rubrics.id", ondelete="CASCADE"), index=True)
    criterion_id: Mapped[int | None] = mapped_column(ForeignKey("criteria.id"))
    reason: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The version that changed or removed the criterion, when that resolved it.
    resolved_version_id: Mapped[int | None] = mapped_column(ForeignKey("rubric_versions.id"))
    resolution: Mapped[str | None] = mapped_column(Text)


class EditorDraft(Base):
    """One user's unsaved editor table for one prompt, kept so a reload loses
    nothing: the rows the table started from (`base`, criteria as JSON), the
    data editor's edits to them, and the rubric lock and head version they were
    made on. Never a version: saving one or discarding deletes the draft."""

    __tablename__ = "editor_drafts"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    prompt_id: Mapped[int] = mapped_column(
        ForeignKey("prompts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    base: Mapped[list[Any]] = mapped_column()
    edits: Mapped[dict[str, Any]] = mapped_column()
    lock_version: Mapped[int | None]
    head_version_id: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
