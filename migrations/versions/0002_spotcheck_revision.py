"""spot-check queues, one final label per item, who and what resolved a revision request

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:23:55.060780
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "spotcheck_queues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "unit",
            sa.Enum(
                "criterion",
                "response",
                name="spotcheck_unit",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "strategy",
            sa.Enum(
                "uniform",
                "stratified",
                "disagreement_first",
                name="sampling_strategy",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "stratify_by",
            sa.Enum(
                "category",
                "judge_model",
                "dataset",
                name="spotcheck_stratum",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("labels_per_item", sa.Integer(), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_spotcheck_queues_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spotcheck_queues")),
        sa.UniqueConstraint("name", name=op.f("uq_spotcheck_queues_name")),
    )
    op.create_table(
        "spotcheck_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("criterion_id", sa.Integer(), nullable=True),
        sa.Column("stratum", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["criterion_id"],
            ["criteria.id"],
            name=op.f("fk_spotcheck_items_criterion_id_criteria"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["spotcheck_queues.id"],
            name=op.f("fk_spotcheck_items_queue_id_spotcheck_queues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["responses.id"],
            name=op.f("fk_spotcheck_items_response_id_responses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spotcheck_items")),
        sa.UniqueConstraint(
            "queue_id", "position", name=op.f("uq_spotcheck_items_queue_id_position")
        ),
    )
    op.create_index(
        "uq_spotcheck_items_item",
        "spotcheck_items",
        ["queue_id", "response_id", "criterion_id"],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )
    op.create_index(
        "uq_human_labels_adjudication",
        "human_labels",
        ["response_id", "criterion_id"],
        unique=True,
        postgresql_where=sa.text("is_adjudication"),
        postgresql_nulls_not_distinct=True,
    )
    op.add_column("revision_requests", sa.Column("resolved_by_id", sa.Integer(), nullable=True))
    op.add_column(
        "revision_requests", sa.Column("resolved_version_id", sa.Integer(), nullable=True)
    )
    op.add_column("revision_requests", sa.Column("resolution", sa.Text(), nullable=True))
    op.create_foreign_key(
        op.f("fk_revision_requests_resolved_version_id_rubric_versions"),
        "revision_requests",
        "rubric_versions",
        ["resolved_version_id"],
        ["id"],
    )
    op.create_foreign_key(
        op.f("fk_revision_requests_resolved_by_id_users"),
        "revision_requests",
        "users",
        ["resolved_by_id"],
        ["id"],
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("fk_revision_requests_resolved_by_id_users"), "revision_requests", type_="foreignkey"
    )
    op.drop_constraint(
        op.f("fk_revision_requests_resolved_version_id_rubric_versions"),
        "revision_requests",
        type_="foreignkey",
    )
    op.drop_column("revision_requests", "resolution")
    op.drop_column("revision_requests", "resolved_version_id")
    op.drop_column("revision_requests", "resolved_by_id")
    op.drop_index(
        "uq_human_labels_adjudication",
        table_name="human_labels",
        postgresql_where=sa.text("is_adjudication"),
        postgresql_nulls_not_distinct=True,
    )
    op.drop_index(
        "uq_spotcheck_items_item", table_name="spotcheck_items", postgresql_nulls_not_distinct=True
    )
    op.drop_table("spotcheck_items")
    op.drop_table("spotcheck_queues")
