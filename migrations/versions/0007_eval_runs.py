"""eval runs: a policy scored on a held-out snapshot by the rubric judge and a rubric-free one

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 16:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "eval_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("policy_label", sa.String(length=200), nullable=False),
        sa.Column("policy_kind", sa.String(length=32), nullable=False),
        sa.Column("policy_source", sa.Text(), nullable=False),
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("snapshot_sha256", sa.String(length=64), nullable=False),
        sa.Column("judge", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("rubric_mean", sa.Float(), nullable=True),
        sa.Column("likert_mean", sa.Float(), nullable=True),
        sa.Column("category_rates", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("rubric_failures", sa.Integer(), nullable=False),
        sa.Column("likert_failures", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_eval_runs_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["training_jobs.id"],
            name=op.f("fk_eval_runs_job_id_training_jobs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["export_snapshots.id"],
            name=op.f("fk_eval_runs_snapshot_id_export_snapshots"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eval_runs")),
    )
    op.create_index(op.f("ix_eval_runs_job_id"), "eval_runs", ["job_id"])
    op.create_index(op.f("ix_eval_runs_snapshot_id"), "eval_runs", ["snapshot_id"])
    op.create_table(
        "eval_scores",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=True),
        sa.Column("uid", sa.Text(), nullable=False),
        sa.Column("completion", sa.Text(), nullable=False),
        sa.Column("rubric_reward", sa.Float(), nullable=True),
        sa.Column("likert_reward", sa.Float(), nullable=True),
        sa.Column("verdicts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["prompt_id"],
            ["prompts.id"],
            name=op.f("fk_eval_scores_prompt_id_prompts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["eval_runs.id"],
            name=op.f("fk_eval_scores_run_id_eval_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eval_scores")),
    )
    op.create_index(op.f("ix_eval_scores_run_id"), "eval_scores", ["run_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_eval_scores_run_id"), table_name="eval_scores")
    op.drop_table("eval_scores")
    op.drop_index(op.f("ix_eval_runs_snapshot_id"), table_name="eval_runs")
    op.drop_index(op.f("ix_eval_runs_job_id"), table_name="eval_runs")
    op.drop_table("eval_runs")
