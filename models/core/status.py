"""The one lifecycle of background work: judge runs and training jobs.

Both tables store these values (each in its own column type, `judge_run_status`
and `job_status`); SQL that filters on a status takes it from here too, so a
status is spelled in one place.
"""

from __future__ import annotations

import enum


class Status(str, enum.Enum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def finished(self) -> bool:
        """A terminal state: nothing changes the run or job any more."""
        return self in FINISHED


FINISHED = frozenset({Status.succeeded, Status.failed, Status.cancelled})
LIVE = frozenset({Status.queued, Status.running})
