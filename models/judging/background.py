"""Judge runs as the app sees them: started in the background, listed with progress.

`start_judge_run` checks the permission, then runs `run_judge` in a daemon
thread of the calling process and returns as soon as the run's row is
committed, so the page that started it stays responsive and watches the
counters `run_judge` writes after every chunk. A problem found before the row
exists (no such dataset, nothing to judge) is raised to the caller; one found
later is recorded on the run (status failed, error), as the CLI's runs are.

A thread, not a job queue: a judge run is I/O-bound (LLM calls), needs no GPU
and no other machine. If the app's process stops mid-run, the row stays
"running" with the counters of the last committed chunk and a heartbeat that
stops moving: after STALE_AFTER without one the run shows as stalled, and
`mark_abandoned` records it as failed (a process still judging it stops at its
next chunk). Start a new run: identical calls come from the judge cache.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rubricforge.models.accounts.orm import User
from rubricforge.models.accounts.permissions import Action, UserInfo, require
from rubricforge.models.core.audit import audit
from rubricforge.models.core.errors import InvalidInputError, NotFoundError, RubricforgeError
from rubricforge.models.core.status import Status
from rubricforge.models.judging.judge import JudgeConfig
from rubricforge.models.judging.orm import JudgeMode, JudgeRun
from rubricforge.models.judging.runs import run_judge
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

START_TIMEOUT_S = 60.0  # finding the responses to judge is one query; this is generous
# A chunk of judgments, retries included, takes minutes at worst; no heartbeat for
# this long means the process running the judge stopped.
STALE_AFTER = timedelta(minutes=15)


def is_stalled(status: Status, last_seen: datetime | None, now: datetime) -> bool:
    """Running, but no sign of life (heartbeat, else start) for STALE_AFTER: the
    process judging it has probably stopped."""
    return status is Status.running and (last_seen is None or now - last_seen > STALE_AFTER)


@dataclass(frozen=True)
class JudgeRunInfo:
    id: int
    model: str
    mode: JudgeMode
    status: Status
    scope: dict[str, Any]
    params: dict[str, Any]
    total: int
    done: int
    failed: int
    tokens_in: int
    tokens_out: int
    cost_usd: float | None
    created_by: str | None
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    heartbeat_at: datetime | None = None

    @property
    def last_seen(self) -> datetime | None:
        return self.heartbeat_at or self.started_at

    @property
    def stalled(self) -> bool:
        return is_stalled(self.status, self.last_seen, datetime.now(UTC))

    @property
    def target(self) -> str:
        """What was judged, in words."""
        if self.scope.get("snapshot_id") is not None:
            return f"snapshot {self.scope['snapshot_id']}"
        if self.scope.get("dataset"):
            return f"dataset {self.scope['dataset']}"
        return "responses"


def start_judge_run(
    engine: Engine,
    actor: UserInfo,
    config: JudgeConfig,
    *,
    dataset: str | None = None,
    snapshot_id: int | None = None,
    timeout: float = START_TIMEOUT_S,
) -> int:
    """Start judging a dataset's or a snapshot's stored responses in the background;
    returns the run id once the run is recorded."""
    require(actor, Action.run_judge)
    started: queue.Queue[int | BaseException] = queue.Queue()

    def work() -> None:
        try:
            run_judge(
                engine,
                config,
                dataset=dataset,
                snapshot_id=snapshot_id,
                actor=actor,
                on_start=started.put,
            )
        except BaseException as exc:  # after the start the run row records it too
            started.put(exc)

    threading.Thread(target=work, name="judge-run", daemon=True).start()
    try:
        first = started.get(timeout=timeout)
    except queue.Empty:
        raise RubricforgeError(
            f"the judge run did not start within {timeout:.0f} s; check the runs list "
            "before starting it again"
        ) from None
    if isinstance(first, RubricforgeError):
        raise first
    if isinstance(first, BaseException):
        raise RubricforgeError(f"the judge run could not start: {first}") from first
    return first


def list_runs(session: Session, *, limit: int = 20) -> list[JudgeRunInfo]:
    """The newest judge runs with their progress, tokens and cost."""
    rows = session.execute(
        select(JudgeRun, User.username)
        .outerjoin(User, User.id == JudgeRun.created_by_id)
        .order_by(JudgeRun.id.desc())
        .limit(limit)
    ).all()
    return [
        JudgeRunInfo(
            id=r.id,
            model=r.model,
            mode=r.mode,
            status=r.status,
            scope=dict(r.scope or {}),
            params=dict(r.params or {}),
            total=r.total,
            done=r.done,
            failed=r.failed,
            tokens_in=r.tokens_in,
            tokens_out=r.tokens_out,
            cost_usd=float(r.cost_usd) if r.cost_usd is not None else None,
            created_by=username,
            started_at=r.started_at,
            finished_at=r.finished_at,
            error=r.error,
            heartbeat_at=r.heartbeat_at,
        )
        for r, username in rows
    ]


def mark_abandoned(session: Session, actor: UserInfo, run_id: int) -> None:
    """Record a stalled run as failed. Refused while the run still shows signs of
    life (a heartbeat within STALE_AFTER) or when it is not running."""
    require(actor, Action.run_judge)
    run = session.execute(
        select(JudgeRun).where(JudgeRun.id == run_id).with_for_update()
    ).scalar_one_or_none()
    if run is None:
        raise NotFoundError(f"judge run {run_id} does not exist")
    if run.status is not Status.running:
        raise InvalidInputError(f"judge run {run_id} is {run.status.value}, not running")
    last = run.heartbeat_at or run.started_at
    now = datetime.now(UTC)
    if not is_stalled(run.status, last, now):
        assert last is not None  # a running run with no sign of life at all is stalled
        raise InvalidInputError(
            f"judge run {run_id} reported progress at {last:%Y-%m-%d %H:%M:%S} UTC; it is "
            f"only considered stopped after {STALE_AFTER.seconds // 60} minutes without any"
        )
    run.status = Status.failed
    run.finished_at = now
    since = f"{last:%Y-%m-%d %H:%M:%S} UTC" if last else "its start"
    run.error = (
        f"abandoned: no progress since {since} (the process running it "
        f"stopped); marked failed by {actor.username}. Start it again: judgments already "
        "made come from the cache."
    )
    audit(
        session,
        actor=actor.username,
        user_id=actor.id,
        action="judge_run.abandoned",
        entity="judge_run",
        entity_id=run_id,
        details={"done": run.done, "total": run.total},
    )
