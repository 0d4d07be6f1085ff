"""What annotators say: blind labels on (response, criterion) pairs or whole responses,
and the spot-check queues that decide which items they are asked about."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from rubricforge.models.core.base import Base, CreatedAt, str_enum
from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column


class HumanLabel(CreatedAt, Base):
    __tablename__ = "human_labels"
    __table_args__ = (
        # One label per annotator per item; criterion NULL means a whole-response label.
        Index(
            "uq_human_labels_item",
            "annotator_id",
            "response_id",
            "criterion_id",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
        Index("ix_human_labels_criterion_id_response_id", "criterion_id", "response_id"),
        Index("ix_human_labels_response_id", "response_id"),
        # At most one final (adjudicated) label per item, even if two experts race.
        Index(
            "uq_human_labels_adjudication",
            "response_id",
            "criterion_id",
            unique=True,
            postgresql_where=text("is_adjudication"),
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    annotator_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"))
    criterion_id: Mapped[int | None] = mapped_column(ForeignKey("criteria.id"))
    met: Mapped[bool | None]  # NULL = skipped
    score: Mapped[int | None] = mapped_column(Integer)  # whole-response 1-10
    note: Mapped[str] = mapped_column(Text, default="")
    seconds_spent: Mapped[float | None] = mapped_column(Float)
    # An adjudicator's final label when two annotators disagreed.
    is_adjudication: Mapped[bool] = mapped_column(default=False)


class ItemUnit(enum.StrEnum):
    criterion = "criterion"  # one (response, criterion) pair: met / not met
    response = "response"  # a whole response: a 1-10 score


class SamplingStrategy(enum.StrEnum):
    uniform = "uniform"
    stratified = "stratified"
    disagreement_first = "disagreement_first"


class Stratum(enum.StrEnum):
    category = "category"
    judge_model = "judge_model"
    dataset = "dataset"


class SpotCheckQueue(CreatedAt, Base):
    """A sample of items drawn once, with a seed, for annotators to work through.

    Drawing the sample once (instead of on every request) makes it reproducible
    and auditable, and keeps `next_item` fast at a million verdicts."""

    __tablename__ = "spotcheck_queues"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    unit: Mapped[ItemUnit] = mapped_column(str_enum(ItemUnit, "spotcheck_unit"))
    strategy: Mapped[SamplingStrategy] = mapped_column(
        str_enum(SamplingStrategy, "sampling_strategy")
    )
    stratify_by: Mapped[Stratum | None] = mapped_column(str_enum(Stratum, "spotcheck_stratum"))
    seed: Mapped[int]
    labels_per_item: Mapped[int] = mapped_column(default=1)
    # Filters and thresholds the sample was drawn with, kept for the record.
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class SpotCheckItem(Base):
    __tablename__ = "spotcheck_items"
    __table_args__ = (
        UniqueConstraint("queue_id", "position"),
        Index(
            "uq_spotcheck_items_item",
            "queue_id",
            "response_id",
            "criterion_id",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("spotcheck_queues.id", ondelete="CASCADE"))
    position: Mapped[int]  # annotators get items in this order
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"))
    criterion_id: Mapped[int | None] = mapped_column(ForeignKey("criteria.id", ondelete="CASCADE"))
    # The stratum it was drawn from ("" for uniform) and, for disagreement-first,
    # why the judges disagree about it.
    stratum: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(Text, default="")


class LabelAssignment(CreatedAt, Base):
    """A queue item given to a named annotator by whoever manages the queues: it comes
    first in that annotator's queue (models/agreement/assignments.py)."""

    __tablename__ = "label_assignments"
    __table_args__ = (UniqueConstraint("item_id", "annotator_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("spotcheck_items.id", ondelete="CASCADE"))
    annotator_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class LabelKeySetting(Base):
    """One annotator's keyboard keys on the Spot-check page (models/agreement/label_keys.py);
    no row: the defaults."""

    __tablename__ = "label_key_settings"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    keys: Mapped[dict[str, Any]] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
