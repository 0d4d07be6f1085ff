"""response author model: which model wrote each response, for the self-preference check

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 16:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing rows never said who wrote them: "unknown", which the check leaves out.
    op.add_column(
        "responses",
        sa.Column("author_model", sa.String(length=200), server_default="unknown", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("responses", "author_model")
