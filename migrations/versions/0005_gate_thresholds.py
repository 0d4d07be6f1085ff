"""admin-owned agreement gate thresholds, workspace-wide and per dataset

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 15:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gate_thresholds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=True),
        sa.Column("min_kappa", sa.Float(), nullable=False),
        sa.Column("min_labels", sa.Integer(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_gate_thresholds_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["users.id"], name=op.f("fk_gate_thresholds_updated_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gate_thresholds")),
        sa.UniqueConstraint("dataset_id", name=op.f("uq_gate_thresholds_dataset_id")),
    )


def downgrade() -> None:
    op.drop_table("gate_thresholds")
