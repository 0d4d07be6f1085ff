"""The GRPO dataset of a snapshot: TRL's conversational `prompt` column, plus the
columns TRL hands to the reward function (`rubric`, `reference_answer`, ...).

Built from the snapshot's canonical rows, the same rows its sha256 is taken
over, so the job can prove it trains on exactly what the snapshot froze.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from datasets import Dataset
from rubricforge.models.core.errors import RubricforgeError
from rubricforge.models.data.export_formats import TRL_FEATURES, trl_columns
from rubricforge.models.data.orm import ExportSnapshot
from rubricforge.models.data.snapshot_rows import SnapshotRow, load_snapshot_rows, rows_sha256
from sqlalchemy import Engine, select


class SnapshotMismatchError(RubricforgeError):
    """The rows read back no longer hash to the snapshot's sha256."""


@dataclass(frozen=True)
class SnapshotDataset:
    dataset: Dataset
    sha256: str


def to_grpo_dataset(rows: Sequence[SnapshotRow]) -> Dataset:
    """Snapshot rows -> the TRL GRPO dataset (the same columns as the TRL export)."""
    return Dataset.from_dict(trl_columns(rows), features=TRL_FEATURES)


def load_snapshot_dataset(engine: Engine, snapshot_id: int) -> SnapshotDataset:
    """Read the snapshot and check its rows still hash to the recorded sha256."""
    rows = load_snapshot_rows(engine, snapshot_id)
    digest = rows_sha256(rows)
    with engine.connect() as conn:
        recorded = conn.execute(
            select(ExportSnapshot.sha256).where(ExportSnapshot.id == snapshot_id)
        ).scalar_one()
    if digest != recorded:
        raise SnapshotMismatchError(
            f"snapshot {snapshot_id} rows hash to {digest[:12]}..., not the recorded "
            f"{recorded[:12]}...; its data changed after it was frozen. "
            "Create a new snapshot and submit the job again."
        )
    if not rows:
        raise RubricforgeError(f"snapshot {snapshot_id} has no rows to train on")
    return SnapshotDataset(dataset=to_grpo_dataset(rows), sha256=digest)
