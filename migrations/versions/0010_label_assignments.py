"""label assignments and label keys: queue items given to named annotators, and each
annotator's keyboard keys on the Spot-check page

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 16:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "label_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=False),
        sa.Column("assigned_by_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["annotator_id"],
            ["users.id"],
            name=op.f("fk_label_assignments_annotator_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["assigned_by_id"], ["users.id"], name=op.f("fk_label_assignments_assigned_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["spotcheck_items.id"],
            name=op.f("fk_label_assignments_item_id_spotcheck_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label_assignments")),
        sa.UniqueConstraint(
            "item_id", "annotator_id", name=op.f("uq_label_assignments_item_id_annotator_id")
        ),
    )
    op.create_index(
        op.f("ix_label_assignments_annotator_id"), "label_assignments", ["annotator_id"]
    )
    op.create_table(
        "label_key_settings",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("keys", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_label_key_settings_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_label_key_settings")),
    )


def downgrade() -> None:
    op.drop_table("label_key_settings")
    op.drop_index(op.f("ix_label_assignments_annotator_id"), table_name="label_assignments")
    op.drop_table("label_assignments")
