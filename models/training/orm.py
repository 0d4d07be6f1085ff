"""GRPO training jobs claimed by trainer workers, and the metrics they report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rubricforge.models.core.base import Base, CreatedAt, str_enum
from rubricforge.models.core.status import Status
from sqlalchemy import BigInteger, DateTime, Float, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column


class TrainingJob(CreatedAt, Base):
    __tablename__ = "training_jobs"
    __table_args__ = (Index("ix_training_jobs_status_created_at", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("export_snapshots.id"), index=True)
    config: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[Status] = mapped_column(str_enum(Status, "job_status"), default=Status.queued)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    error: Mapped[str | None] = mapped_column(Text)
    output_uri: Mapped[str | None] = mapped_column(Text)
    # Snapshot hash, judge model/template hash and the agreement report the gate passed.
    provenance: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TrainingMetric(CreatedAt, Base):
    __tablename__ = "training_metrics"
    __table_args__ = (Index("ix_training_metrics_job_id_step", "job_id", "step"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("training_jobs.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer)
    values: Mapped[dict[str, Any]] = mapped_column()


class GateThreshold(Base):
    """The agreement gate's bar, set by an admin: the workspace's (dataset_id NULL, one
    row, kept single by the service's lock) or one dataset's, which overrides it."""

    __tablename__ = "gate_thresholds"

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int | None] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), unique=True
    )
    min_kappa: Mapped[float] = mapped_column(Float)
    min_labels: Mapped[int] = mapped_column(Integer)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class EvalRun(CreatedAt, Base):
    """One policy scored on a held-out snapshot by the rubric judge and, side by side,
    by the same judge model without the rubric (Direct-Likert)."""

    __tablename__ = "eval_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("training_jobs.id", ondelete="SET NULL"), index=True
    )
    policy_label: Mapped[str] = mapped_column(String(200))
    policy_kind: Mapped[str] = mapped_column(String(32))  # endpoint or checkpoint
    policy_source: Mapped[str] = mapped_column(Text)  # URL and model, or the folder
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("export_snapshots.id"), index=True)
    snapshot_sha256: Mapped[str] = mapped_column(String(64))
    # The rubric judge's spec and template hash, and the rubric-free judge's.
    judge: Mapped[dict[str, Any]] = mapped_column()
    rubric_mean: Mapped[float | None] = mapped_column(Float)
    likert_mean: Mapped[float | None] = mapped_column(Float)
    # Category -> share of its criteria met (the pitfall share is pitfalls hit).
    category_rates: Mapped[dict[str, Any]] = mapped_column(default=dict)
    n: Mapped[int] = mapped_column(Integer)
    rubric_failures: Mapped[int] = mapped_column(Integer, default=0)
    likert_failures: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class EvalScore(Base):
    """One prompt of an eval run: the policy's completion and both judges' rewards."""

    __tablename__ = "eval_scores"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("eval_runs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    prompt_id: Mapped[int | None] = mapped_column(ForeignKey("prompts.id", ondelete="SET NULL"))
    uid: Mapped[str] = mapped_column(Text)
    completion: Mapped[str] = mapped_column(Text)
    rubric_reward: Mapped[float | None] = mapped_column(Float)  # None: the judgment failed
    likert_reward: Mapped[float | None] = mapped_column(Float)
    # Per-criterion [category, met] of an explicit judge; empty for a rating judge.
    verdicts: Mapped[list[Any]] = mapped_column(default=list)
    error: Mapped[str | None] = mapped_column(Text)
