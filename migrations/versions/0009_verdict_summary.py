"""verdict lookups without the heap: covering indexes for the agreement queries

The agreement dashboard, its drill-down and the judge leaderboard probe, for every
labelled (response, criterion) item, the judgments of the response and the verdict
of each on the criterion: tens of thousands of index probes per page at RaR scale,
each of which also read the table's row for `met` and `ok` (verdicts) or `id`
(judgments). The indexes now carry those columns, so the probes are index-only:
the verdict query of a report over 1M verdicts took half the time. Both replace an
index of the same columns, so no write pays for a new index.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 17:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_judgments_response_id_run_id", table_name="judgments")
    op.create_index(
        "ix_judgments_response_id_run_id",
        "judgments",
        ["response_id", "run_id"],
        postgresql_include=["id"],
    )
    op.execute(
        "ALTER TABLE verdicts DROP CONSTRAINT uq_verdicts_judgment_id_criterion_id, "
        "ADD CONSTRAINT uq_verdicts_judgment_id_criterion_id "
        "UNIQUE (judgment_id, criterion_id) INCLUDE (met, ok)"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE verdicts DROP CONSTRAINT uq_verdicts_judgment_id_criterion_id, "
        "ADD CONSTRAINT uq_verdicts_judgment_id_criterion_id UNIQUE (judgment_id, criterion_id)"
    )
    op.drop_index("ix_judgments_response_id_run_id", table_name="judgments")
    op.create_index("ix_judgments_response_id_run_id", "judgments", ["response_id", "run_id"])
