"""search index: trigram indexes for searching questions, reference answers and
criteria; stored polarity flags recomputed with today's rules

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from rubricforge.models.rubrics.flags import refresh_flags

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index, table, column): ILIKE '%word%' on these is served by the trigram index.
TRGM_INDEXES = [
    ("ix_prompts_question_trgm", "prompts", "question"),
    ("ix_prompts_reference_answer_trgm", "prompts", "reference_answer"),
    ("ix_criteria_title_trgm", "criteria", "title"),
    ("ix_criteria_description_trgm", "criteria", "description"),
]


def upgrade() -> None:
    # pg_trgm ships with PostgreSQL (the embedded server too) and is a trusted
    # extension: the database's owner may create it without being a superuser.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, column in TRGM_INDEXES:
        op.create_index(
            name,
            table,
            [column],
            postgresql_using="gin",
            postgresql_ops={column: "gin_trgm_ops"},
        )
    refresh_flags(op.get_bind())


def downgrade() -> None:
    for name, table, _column in TRGM_INDEXES:
        op.drop_index(name, table_name=table)
    op.execute("DROP EXTENSION IF EXISTS pg_trgm")
