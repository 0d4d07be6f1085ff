"""Responses to judge, judge runs, and what the judge said about each response.

A JudgeRun is one judge configuration applied over a set of responses. Each
Judgment is one (run, response, rubric version) call: explicit mode stores one
Verdict per criterion, implicit and Likert modes store the 1-10 rating.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from rubricforge.models.core.base import Base, CreatedAt, str_enum
from rubricforge.models.core.status import Status
from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column


class JudgeMode(str, enum.Enum):
    explicit = "explicit"
    implicit = "implicit"
    likert = "likert"  # RaR's Direct-Likert baseline: no rubric
    reference_likert = "reference_likert"  # Likert with the reference answer


UNKNOWN_AUTHOR = "unknown"


class Response(CreatedAt, Base):
    __tablename__ = "responses"
    __table_args__ = (UniqueConstraint("prompt_id", "source", "content_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    # Model name, "reference", "human", or a degraded-variant label.
    source: Mapped[str] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64))
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The model that wrote the text ("unknown" when nobody said; "human" for a reference),
    # for the self-preference check (models/agreement/self_preference.py).
    author_model: Mapped[str] = mapped_column(
        String(200), default=UNKNOWN_AUTHOR, server_default=UNKNOWN_AUTHOR
    )


class JudgeRun(CreatedAt, Base):
    __tablename__ = "judge_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(200))
    base_url: Mapped[str] = mapped_column(Text, default="")
    mode: Mapped[JudgeMode] = mapped_column(str_enum(JudgeMode, "judge_mode"))
    template_hash: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[Status] = mapped_column(
        str_enum(Status, "judge_run_status"), default=Status.queued
    )
    scope: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Last sign of life of the process judging (start, every stored chunk).
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    total: Mapped[int] = mapped_column(default=0)
    done: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    tokens_in: Mapped[int] = mapped_column(BigInteger, default=0)
    tokens_out: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_usd: Mapped[float | None] = mapped_column(Numeric(12, 6))
    error: Mapped[str | None] = mapped_column(Text)


class Judgment(CreatedAt, Base):
    __tablename__ = "judgments"
    __table_args__ = (
        UniqueConstraint("run_id", "response_id"),
        # `id` included: the agreement queries' probes by response are index-only.
        Index(
            "ix_judgments_response_id_run_id", "response_id", "run_id", postgresql_include=["id"]
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("judge_runs.id", ondelete="CASCADE"))
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"))
    rubric_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("rubric_versions.id"), index=True
    )
    ok: Mapped[bool] = mapped_column(default=True)
    error: Mapped[str | None] = mapped_column(Text)
    rating: Mapped[float | None] = mapped_column(Float)  # implicit / Likert 1-10
    reward: Mapped[float | None] = mapped_column(Float)
    cache_key: Mapped[str | None] = mapped_column(String(64), index=True)
    cached: Mapped[bool] = mapped_column(default=False)
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[int | None] = mapped_column(Integer)


class Verdict(Base):
    __tablename__ = "verdicts"
    __table_args__ = (
        # `met` and `ok` included: the agreement queries' probes are index-only.
        UniqueConstraint("judgment_id", "criterion_id", postgresql_include=["met", "ok"]),
        Index("ix_verdicts_criterion_id_judgment_id", "criterion_id", "judgment_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    judgment_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("judgments.id", ondelete="CASCADE")
    )
    criterion_id: Mapped[int] = mapped_column(ForeignKey("criteria.id"))
    # NULL met with ok=False is a failed verdict: never a silent default.
    met: Mapped[bool | None]
    ok: Mapped[bool] = mapped_column(default=True)
    rationale: Mapped[str] = mapped_column(Text, default="")


class LLMCache(CreatedAt, Base):
    """Identical LLM calls (config + template + rubric version + response) are served from here."""

    __tablename__ = "llm_cache"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column()
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
