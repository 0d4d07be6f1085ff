"""The trainer worker: claim a job, hold its lease, train, record the outcome.

    worker = Worker(url, lease_seconds=120)
    worker.install_signal_handlers()   # SIGTERM/SIGINT: stop after the current step
    worker.run_forever(poll_interval=5)

Outcomes, written with the worker's id as a guard (models/training/queue.py):
- reached max_steps: `succeeded`, model saved in the output folder (`output_uri`);
- a user cancelled: `cancelled` after the step in progress, no model saved;
- SIGTERM (deploy, preemption): a checkpoint is saved after the step in
  progress and the job goes back to `queued` with the reason in `error`; the
  claim is given back (it does not count against max_attempts) and the next
  worker resumes from the checkpoint;
- the run raised: `failed`, with the error kept;
- the worker died (SIGKILL, OOM, lost machine): nothing is written; the lease
  expires and another worker claims the job again, up to max_attempts.
A worker that cannot renew its lease for a whole lease period stops training
on its own, so two workers never train one job for long. A database restart is
ridden out: polls fail with a warning until it is back, and a running job's
metrics and outcome are written once it is (models/training/queue.py retries them for
up to the lease). Started under `accelerate launch` or `torchrun`, one worker
spans all their processes and claims only jobs whose `num_processes` matches
(trainer/ranks.py).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import traceback
import uuid
from types import FrameType
from typing import TYPE_CHECKING

from rubricforge.models.core.db import normalize_url
from rubricforge.models.core.errors import RubricforgeError
from rubricforge.models.core.outage import first_line, unreachable
from rubricforge.models.core.status import Status
from rubricforge.models.training.queue import ClaimedJob, Queue
from rubricforge.models.training.worker_policy import WorkerPolicy
from sqlalchemy import Engine, create_engine

from .callbacks import StopFlags, StopReason
from .ranks import Ranks

if TYPE_CHECKING:
    from .run import RunResult

log = logging.getLogger("rubricforge.worker")
UNREACHABLE = "database unreachable"  # a poll's outcome (shared across ranks as is)
MAX_BACKOFF = 60.0  # seconds between polls, at most, while the database is away


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Heartbeat(threading.Thread):
    """Renews the lease every `interval` seconds on its own connection, and turns
    what it learns (cancel requested, lease lost) into stop flags."""

    def __init__(
        self, queue: Queue, job_id: int, lease_seconds: float, interval: float, flags: StopFlags
    ):
        super().__init__(name=f"heartbeat-{job_id}", daemon=True)
        self.queue, self.job_id, self.flags = queue, job_id, flags
        self.lease_seconds, self.interval = lease_seconds, interval
        self._done = threading.Event()

    def run(self) -> None:
        last_ok = time.monotonic()
        while not self._done.wait(self.interval):
            try:
                beat = self.queue.heartbeat(self.job_id, self.lease_seconds)
            except Exception as exc:  # the database may come back before the lease ends
                log.warning("job %s: heartbeat failed: %s", self.job_id, exc)
                if time.monotonic() - last_ok > self.lease_seconds:
                    log.error("job %s: no heartbeat for a whole lease; stopping", self.job_id)
                    self.flags.set(StopReason.lease_lost)
                    return
                continue
            last_ok = time.monotonic()
            if not beat.owned:
                self.flags.set(StopReason.lease_lost)
                return
            if beat.cancel_requested:
                self.flags.set(StopReason.cancelled)

    def stop(self) -> None:
        self._done.set()
        self.join()


class Worker:
    def __init__(
        self,
        engine_or_url: Engine | str,
        worker_id: str | None = None,
        *,
        lease_seconds: float = 120.0,
        heartbeat_seconds: float | None = None,
        policy: WorkerPolicy | None = None,
    ):
        if lease_seconds <= 0:
            raise RubricforgeError("lease_seconds must be positive, e.g. 120")
        self.engine = (
            # pre-ping: after a database restart, dead pooled connections are replaced
            create_engine(
                normalize_url(engine_or_url), pool_size=2, max_overflow=2, pool_pre_ping=True
            )
            if isinstance(engine_or_url, str)
            else engine_or_url
        )
        self.worker_id = worker_id or default_worker_id()
        # Which models this worker runs and where outputs go (its env, unless given).
        self.policy = policy or WorkerPolicy.from_env()
        self.lease_seconds = lease_seconds
        self.heartbeat_seconds = heartbeat_seconds or lease_seconds / 4
        if self.heartbeat_seconds >= lease_seconds:
            raise RubricforgeError(
                f"heartbeat_seconds ({self.heartbeat_seconds:g}) must be shorter than "
                f"lease_seconds ({lease_seconds:g}), e.g. a quarter of it"
            )
        self.queue = Queue(self.engine, self.worker_id, retry_seconds=lease_seconds)
        self.ranks = Ranks()
        self._stopping = threading.Event()
        self._current: StopFlags | None = None

    # --- stopping --------------------------------------------------------------
    def request_stop(self) -> None:
        """What SIGTERM does: finish the current step, checkpoint, give the job back, exit."""
        self._stopping.set()
        if self._current is not None:
            self._current.set(StopReason.sigterm)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop cleanly; a second signal stops at once."""

        def handler(signum: int, _frame: FrameType | None) -> None:
            log.warning(
                "worker %s: %s received; stopping after the current step",
                self.worker_id,
                signal.Signals(signum).name,
            )
            signal.signal(signum, signal.SIG_DFL)
            self.request_stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    # --- the loop ----------------------------------------------------------------
    def run_once(self) -> bool:
        """Claim one job and run it to an outcome. False when nothing ran: the queue had
        no job for this worker, or the database could not be asked (see run_forever)."""
        return self._poll() is True

    def _poll(self) -> bool | str:
        """True: a job ran; False: the queue had none; UNREACHABLE: the database is out
        of reach, so whether jobs wait is unknown (never "idle")."""
        if self.ranks.share(self.stopping):
            return False
        mine = self._claim() if self.ranks.main else None
        job = self.ranks.share(mine)
        if isinstance(job, str):
            return UNREACHABLE
        if job is None:
            return False
        log.info(
            "worker %s: claimed job %s (attempt %s/%s)",
            self.worker_id,
            job.id,
            job.attempt,
            job.max_attempts,
        )
        flags = StopFlags()
        self._current = flags
        if self.stopping:  # SIGTERM between the claim and now
            flags.set(StopReason.sigterm)
        heartbeat = None
        if self.ranks.main:
            heartbeat = Heartbeat(
                self.queue, job.id, self.lease_seconds, self.heartbeat_seconds, flags
            )
            heartbeat.start()
        try:
            self._run(job, flags)
        except Exception as exc:
            if not unreachable(exc):
                raise
            # Retried for a whole lease already: the job is not ours any more.
            log.error(
                "job %s: the database stayed unreachable, so its outcome is not recorded; "
                "the lease expires and the job is claimed again (%s)", job.id, exc,
            )  # fmt: skip
        finally:
            if heartbeat is not None:
                heartbeat.stop()
            self._current = None
        return True

    def _claim(self) -> ClaimedJob | str | None:
        """A job, None when there is none, UNREACHABLE when the database is out of reach
        (a restart: the next poll tries again)."""
        try:
            return self.queue.claim(self.lease_seconds, self.ranks.world, policy=self.policy)
        except Exception as exc:
            if not unreachable(exc):
                raise
            log.warning("worker %s: cannot poll for jobs: database unreachable (%s)",
                        self.worker_id, first_line(exc))  # fmt: skip
            return UNREACHABLE

    def run_forever(self, poll_interval: float = 5.0, *, exit_when_idle: bool = False) -> int:
        """Run jobs until stopped (or, with exit_when_idle, until the queue is empty).
        While the database is unreachable the worker keeps polling, backing off up to
        MAX_BACKOFF seconds: an outage is not an empty queue, even with exit_when_idle.
        Returns how many jobs this worker ran."""
        ran, backoff = 0, poll_interval
        while not self.ranks.share(self.stopping):
            outcome = self._poll()
            if outcome == UNREACHABLE:
                backoff = min(max(backoff, 0.1) * 2, MAX_BACKOFF)
                log.warning("worker %s: next poll in %.1f s", self.worker_id, backoff)
                self._stopping.wait(backoff)
                continue
            backoff = poll_interval
            if outcome is True:
                ran += 1
            elif exit_when_idle:
                break
            else:
                self._stopping.wait(poll_interval)
        return ran

    def _run(self, job: ClaimedJob, flags: StopFlags) -> None:
        from .run import run_job  # torch and TRL load on the first job, not at import

        try:
            result = run_job(
                job,
                engine=self.engine,
                queue=self.queue,
                flags=flags,
                ranks=self.ranks,
                policy=self.policy,
            )
        except Exception as exc:
            if not self.ranks.main or flags.reason is StopReason.lease_lost:
                log.warning("job %s failed on rank %s: %s", job.id, self.ranks.rank, exc)
                return
            log.exception("job %s failed", job.id)
            self.queue.fail(job.id, _describe(exc))
            return
        if self.ranks.main:
            self._record(job, result)

    def _record(self, job: ClaimedJob, result: RunResult) -> None:
        stopped = result.stopped_for
        if result.completed:
            self.queue.finish(job.id, Status.succeeded, output_uri=str(result.output_dir))
        elif stopped is StopReason.cancelled:
            self.queue.finish(
                job.id, Status.cancelled, error=f"cancelled by request after step {result.step}"
            )
        elif stopped is StopReason.sigterm:
            saved = (
                "checkpoint saved; the next claim resumes from it"
                if result.step
                else ("nothing trained yet")
            )
            self.queue.requeue(
                job.id,
                f"worker {self.worker_id} stopped by SIGTERM after step {result.step}; {saved}",
            )
        elif stopped is StopReason.lease_lost:
            log.warning(
                "job %s: lease lost after step %s; another worker owns it now", job.id, result.step
            )
        else:  # a callback other than ours, or an iterable dataset, ended the run early
            self.queue.finish(
                job.id,
                Status.failed,
                error=f"training stopped after step {result.step} without a request",
            )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RubricforgeError):
        return str(exc)
    tail = "".join(traceback.format_exception(exc)[-6:])
    return f"{type(exc).__name__}: {exc}\n{tail}"
