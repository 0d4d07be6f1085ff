"""The training job queue: every status change of a job, its SQL in one place.

The app and the CLI queue and cancel jobs (models/training/jobs.py, `cancel`
here); the trainer worker claims, renews, finishes, fails and requeues them
through `Queue`. Torch-free: `models` never imports the trainer.

A job is claimed with one statement (`FOR UPDATE SKIP LOCKED` + `UPDATE ...
RETURNING`), so two workers never get the same job and none waits on another.
Ownership is then a lease (`lease_expires_at`) that the worker's heartbeat
renews; once it has expired the job is claimed again, until `max_attempts`
claims have been spent, and then it is failed with the reason kept in `error`.
Every statement that changes a job checks `worker_id`, so a worker that lost
its lease cannot overwrite the new owner's state.

A database outage (a restart, a failover) must not cost a running job its
metrics or its outcome: those writes are retried with backoff for up to
`retry_seconds` (the worker passes its lease); each can be repeated safely.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from rubricforge.models.core.audit import audit
from rubricforge.models.core.db import session_scope
from rubricforge.models.core.outage import retrying
from rubricforge.models.core.status import Status
from rubricforge.models.core.text_safety import clean_text, scrub
from rubricforge.models.training.config import MAX_PROCESSES
from rubricforge.models.training.worker_policy import WorkerPolicy
from sqlalchemy import Engine, bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

log = logging.getLogger("rubricforge.worker")
T = TypeVar("T")
# Statuses as the SQL below spells them (constants from the enum, never user input).
QUEUED, RUNNING = Status.queued.value, Status.running.value
FAILED, CANCELLED = Status.failed.value, Status.cancelled.value

# Expired leases whose claims are used up: failed, with the reason kept.
# Expired leases on jobs a user cancelled meanwhile: nobody is left to honour it.
REAP = text(
    f"""
    UPDATE training_jobs t
    SET status = CASE WHEN t.cancel_requested THEN '{CANCELLED}' ELSE '{FAILED}' END,
        finished_at = now(),
        error = CASE WHEN t.cancel_requested THEN t.error ELSE format(
            'gave up after %s attempt(s): worker %s stopped renewing its lease (expired %s)%s',
            t.attempts, t.worker_id, t.lease_expires_at,
            coalesce('; earlier: ' || t.error, '')) END
    WHERE t.id IN (
        SELECT id FROM training_jobs
        WHERE status = '{RUNNING}' AND lease_expires_at < now()
          AND (cancel_requested OR attempts >= max_attempts)
        FOR UPDATE SKIP LOCKED
    )
    RETURNING t.id, t.status, t.error
    """
)

CLAIM = text(
    f"""
    WITH picked AS (
        SELECT id, status AS was, worker_id AS previous_worker, lease_expires_at AS expired_at
        FROM training_jobs
        WHERE (status = '{QUEUED}'
               OR (status = '{RUNNING}' AND lease_expires_at < now() AND attempts < max_attempts))
          AND NOT cancel_requested
          -- a worker of N processes (GPUs) takes only jobs sized for N; a job whose size
          -- cannot be read is taken by any worker, which fails it with the reason
          AND CASE
              WHEN jsonb_typeof(config) <> 'object' THEN true
              WHEN NOT config ? 'num_processes' THEN :processes = 1
              WHEN jsonb_typeof(config->'num_processes') <> 'number' THEN true
              WHEN (config->>'num_processes')::numeric BETWEEN 1 AND :max_processes
                   AND (config->>'num_processes')::numeric % 1 = 0
                  THEN (config->>'num_processes')::numeric = :processes
              ELSE true
          END
        ORDER BY created_at, id
        FOR UPDATE SKIP LOCKED
        LIMIT 1
    )
    UPDATE training_jobs t
    SET status = '{RUNNING}',
        worker_id = :worker_id,
        lease_expires_at = now() + make_interval(secs => :lease_seconds),
        heartbeat_at = now(),
        attempts = t.attempts + 1,
        started_at = coalesce(t.started_at, now()),
        error = CASE WHEN picked.was = '{RUNNING}' THEN format(
            'worker %s stopped renewing its lease (expired %s)',
            picked.previous_worker, picked.expired_at) ELSE t.error END
    FROM picked
    WHERE t.id = picked.id
    RETURNING t.id, t.snapshot_id, t.config, t.attempts, t.max_attempts, t.provenance,
              picked.was, picked.previous_worker
    """
)

HEARTBEAT = text(
    f"""
    UPDATE training_jobs
    SET heartbeat_at = now(), lease_expires_at = now() + make_interval(secs => :lease_seconds)
    WHERE id = :job_id AND worker_id = :worker_id AND status = '{RUNNING}'
    RETURNING cancel_requested
    """
)

CANCEL_REQUESTED = text(
    "SELECT cancel_requested FROM training_jobs "
    f"WHERE id = :job_id AND worker_id = :worker_id AND status = '{RUNNING}'"
)

FINISH = text(
    f"""
    UPDATE training_jobs
    SET status = :status, finished_at = now(), lease_expires_at = NULL,
        error = :error, output_uri = coalesce(:output_uri, output_uri)
    WHERE id = :job_id AND worker_id = :worker_id AND status = '{RUNNING}'
    RETURNING id
    """
)

# A stopped worker (SIGTERM: preemption, deploy) is not the job's fault: the
# claim is given back, so it does not count against max_attempts.
REQUEUE = text(
    f"""
    UPDATE training_jobs
    SET status = '{QUEUED}', worker_id = NULL, lease_expires_at = NULL,
        attempts = greatest(attempts - 1, 0), error = :error
    WHERE id = :job_id AND worker_id = :worker_id AND status = '{RUNNING}'
    RETURNING id
    """
)

# A user's cancel: a queued job ends at once; a running one is flagged, and its
# worker stops after the step in progress (the heartbeat reads the flag).
CANCEL = text(
    f"""
    WITH target AS (
        SELECT id, status AS was FROM training_jobs
        WHERE id = :job_id AND status IN ('{QUEUED}', '{RUNNING}')
        FOR UPDATE
    )
    UPDATE training_jobs t
    SET cancel_requested = true,
        status = CASE WHEN target.was = '{QUEUED}' THEN '{CANCELLED}' ELSE t.status END,
        finished_at = CASE WHEN target.was = '{QUEUED}' THEN now() ELSE t.finished_at END
    FROM target
    WHERE t.id = target.id
    RETURNING target.was, t.status
    """
)

ADD_PROVENANCE = text(
    f"""
    UPDATE training_jobs SET provenance = provenance || :extra
    WHERE id = :job_id AND worker_id = :worker_id AND status = '{RUNNING}'
    """
).bindparams(bindparam("extra", type_=JSONB))

# One row per step: a write repeated after a lost connection (its commit may or
# may not have happened) replaces the row rather than adding a second one.
INSERT_METRIC = text(
    f"""
    WITH owned AS (
        SELECT 1 FROM training_jobs
        WHERE id = :job_id AND worker_id = :worker_id AND status = '{RUNNING}'
    ), replaced AS (
        DELETE FROM training_metrics
        WHERE job_id = :job_id AND step = :step AND EXISTS (SELECT 1 FROM owned)
    )
    INSERT INTO training_metrics (job_id, step, values)
    SELECT :job_id, :step, :values
    WHERE EXISTS (SELECT 1 FROM owned)
    """
).bindparams(bindparam("values", type_=JSONB))

# A run restarting from scratch (or from a checkpoint) replaces the curves of the
# steps it is about to redo, so a re-claimed job has one row per step.
DROP_METRICS_AFTER = text(
    f"""
    DELETE FROM training_metrics
    WHERE job_id = :job_id AND step > :step
      AND EXISTS (SELECT 1 FROM training_jobs
                  WHERE id = :job_id AND worker_id = :worker_id AND status = '{RUNNING}')
    """
)


def cancel(session: Session, job_id: int) -> tuple[Status, Status] | None:
    """Cancel `job_id` in the caller's transaction: (status before, status now), or
    None when the job is missing or already finished (nothing to cancel)."""
    row = session.execute(CANCEL, {"job_id": job_id}).first()
    return (Status(row.was), Status(row.status)) if row else None


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    snapshot_id: int
    config: dict[str, Any]
    attempt: int
    max_attempts: int
    provenance: dict[str, Any]
    reclaimed_from: str | None  # the worker whose lease expired, when this is a re-claim


@dataclass(frozen=True)
class Beat:
    owned: bool  # False: the lease was lost (another worker has the job, or it ended)
    cancel_requested: bool


class Queue:
    """The queue over one engine. Each call is its own short transaction."""

    def __init__(self, engine: Engine, worker_id: str, *, retry_seconds: float = 60.0):
        self.engine = engine
        self.worker_id = worker_id
        self.retry_seconds = retry_seconds
        self._actor = f"worker:{worker_id}"[:100]

    def _retrying(self, what: str, call: Callable[[], T]) -> T:
        return retrying(what, call, self.retry_seconds, log)

    def _audit(self, s: Session, action: str, job_id: int, details: dict[str, Any]) -> None:
        audit(s, actor=self._actor, action=action, entity="training_job", entity_id=job_id,
              details=details)  # fmt: skip

    def reap(self) -> list[tuple[int, str, str | None]]:
        """Fail (or cancel) jobs whose workers died with no claims left."""
        with session_scope(self.engine) as s:
            rows = s.execute(REAP).all()
            for job_id, status, error in rows:
                self._audit(
                    s, f"training.{status}", job_id, {"error": error, "reason": "lease expired"}
                )
            return [(r[0], r[1], r[2]) for r in rows]

    def claim(
        self, lease_seconds: float, processes: int = 1, *, policy: WorkerPolicy | None = None
    ) -> ClaimedJob | None:
        """Claim the oldest runnable job sized for `processes`, or None when there is none.

        With a `policy` (the worker's), a claimed job whose config this worker will not
        run (unreadable, out of range, a model it does not allow) is marked failed with
        the reason, and the next job is claimed instead."""
        self.reap()
        while True:
            job = self._claim_one(lease_seconds, processes)
            if job is None or policy is None:
                return job
            problem = policy.refusal(job.config)
            if problem is None:
                return job
            log.warning("worker %s: job %s refused: %s", self.worker_id, job.id, problem)
            self.fail(job.id, f"refused by worker {self.worker_id} at claim: {problem}")

    def _claim_one(self, lease_seconds: float, processes: int) -> ClaimedJob | None:
        with session_scope(self.engine) as s:
            row = s.execute(
                CLAIM,
                {
                    "worker_id": self.worker_id,
                    "lease_seconds": lease_seconds,
                    "processes": processes,
                    "max_processes": MAX_PROCESSES,
                },
            ).first()
            if row is None:
                return None
            job = ClaimedJob(
                id=row.id,
                snapshot_id=row.snapshot_id,
                config=row.config,
                attempt=row.attempts,
                max_attempts=row.max_attempts,
                provenance=row.provenance,
                reclaimed_from=row.previous_worker if row.was == RUNNING else None,
            )
            details = {"attempt": job.attempt, "reclaimed_from": job.reclaimed_from}
            self._audit(s, "training.claim", job.id, details)
            return job

    def heartbeat(self, job_id: int, lease_seconds: float) -> Beat:
        with session_scope(self.engine) as s:
            row = s.execute(
                HEARTBEAT,
                {"job_id": job_id, "worker_id": self.worker_id, "lease_seconds": lease_seconds},
            ).first()
        return Beat(owned=row is not None, cancel_requested=bool(row and row[0]))

    def cancel_requested(self, job_id: int) -> Beat:
        """Read-only check, cheap enough for every training step."""
        with self.engine.connect() as conn:
            row = conn.execute(
                CANCEL_REQUESTED, {"job_id": job_id, "worker_id": self.worker_id}
            ).first()
        return Beat(owned=row is not None, cancel_requested=bool(row and row[0]))

    def _execute(self, what: str, statement: Any, params: dict[str, Any]) -> None:
        params, replaced = scrub(params)  # model output with U+0000 would fail the whole write
        if replaced:
            log.warning("%s: NUL characters replaced with U+FFFD", what)

        def once() -> None:
            with session_scope(self.engine) as s:
                s.execute(statement, {"worker_id": self.worker_id, **params})

        self._retrying(what, once)

    def add_provenance(self, job_id: int, extra: dict[str, Any]) -> None:
        self._execute(
            f"job {job_id}: provenance", ADD_PROVENANCE, {"job_id": job_id, "extra": extra}
        )

    def write_metric(self, job_id: int, step: int, values: dict[str, Any]) -> None:
        self._execute(
            f"job {job_id}: metrics of step {step}",
            INSERT_METRIC,
            {"job_id": job_id, "step": step, "values": values},
        )

    def drop_metrics_after(self, job_id: int, step: int) -> None:
        self._execute(
            f"job {job_id}: metrics after step {step}",
            DROP_METRICS_AFTER,
            {"job_id": job_id, "step": step},
        )

    def finish(
        self,
        job_id: int,
        status: Status,
        *,
        error: str | None = None,
        output_uri: str | None = None,
    ) -> bool:
        """Record the outcome; False when this worker no longer owns the job."""
        error = clean_text(error)[0] if error is not None else None
        return self._retrying(
            f"job {job_id}: outcome {status.value}",
            lambda: self._finish(job_id, status, error, output_uri),
        )

    def _finish(
        self, job_id: int, status: Status, error: str | None, output_uri: str | None
    ) -> bool:
        with session_scope(self.engine) as s:
            done = s.execute(
                FINISH,
                {
                    "job_id": job_id,
                    "worker_id": self.worker_id,
                    "status": status.value,
                    "error": error,
                    "output_uri": output_uri,
                },
            ).first()
            if done:
                details = {"error": error, "output_uri": output_uri}
                self._audit(s, f"training.{status.value}", job_id, details)
            return done is not None

    def fail(self, job_id: int, error: str) -> bool:
        """The job failed: record why; False when this worker no longer owns it."""
        return self.finish(job_id, Status.failed, error=error)

    def requeue(self, job_id: int, reason: str) -> bool:
        """Give the job back to the queue (the claim does not count as an attempt)."""
        reason = clean_text(reason)[0]
        return self._retrying(f"job {job_id}: requeue", lambda: self._requeue(job_id, reason))

    def _requeue(self, job_id: int, reason: str) -> bool:
        with session_scope(self.engine) as s:
            done = s.execute(
                REQUEUE, {"job_id": job_id, "worker_id": self.worker_id, "error": reason}
            ).first()
            if done:
                self._audit(s, "training.requeue", job_id, {"reason": reason})
            return done is not None
