"""Judge runs: apply one judge configuration to stored responses and keep every
judgment and verdict in Postgres, with progress the app can watch.

The run row is committed first (status running), then responses are judged in
chunks; each chunk's judgments and verdicts land in one transaction together
with the run's progress counters, so a crash loses at most one chunk and the
page shows live progress.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from rubricforge.models.accounts.permissions import Action, UserInfo, require
from rubricforge.models.core.audit import audit
from rubricforge.models.core.db import session_scope
from rubricforge.models.core.errors import NotFoundError, RubricforgeError
from rubricforge.models.core.status import Status
from rubricforge.models.data.orm import SnapshotItem
from rubricforge.models.judging.judge import Judge, JudgeConfig, JudgeItem, JudgeResult
from rubricforge.models.judging.orm import JudgeRun, Judgment, Response, Verdict
from rubricforge.models.rubrics.criteria import CriterionData
from rubricforge.models.rubrics.orm import Criterion, Dataset, Prompt, Rubric
from sqlalchemy import CursorResult, Engine, insert, select, update

CHUNK = 256


@dataclass(frozen=True)
class _Target:
    response_id: int
    version_id: int | None
    criterion_ids: tuple[int, ...]
    item: JudgeItem


@dataclass(frozen=True)
class JudgeRunReport:
    run_id: int
    total: int
    judged: int
    failed: int
    cached: int
    tokens_in: int
    tokens_out: int
    cost_usd: float | None
    mean_reward: float | None
    nul_replaced: int = 0  # rationales whose NUL characters became U+FFFD

    @property
    def run_failed(self) -> bool:
        """The run's own rule (see run_judge): failed when no judgment succeeded."""
        return self.failed == self.total

    def summary(self) -> str:
        cost = f", ${self.cost_usd:.4f}" if self.cost_usd is not None else ""
        mean = f", mean reward {self.mean_reward:.3f}" if self.mean_reward is not None else ""
        return (
            f"judge run {self.run_id}: {self.judged}/{self.total} judged "
            f"({self.cached} from cache), {self.failed} failed{mean}; "
            f"{self.tokens_in} + {self.tokens_out} tokens{cost}"
        ) + (
            f"; {self.nul_replaced} rationale(s) held NUL characters, stored as U+FFFD"
            if self.nul_replaced
            else ""
        )


def _targets(
    engine: Engine,
    *,
    dataset: str | None,
    snapshot_id: int | None,
    source: str | None,
    response_ids: Sequence[int] | None = None,
) -> list[_Target]:
    """Responses with the rubric version to judge them against: the snapshot's frozen
    version, or the rubric's head. One query for responses, one for criteria."""
    if (dataset is None) == (snapshot_id is None):
        raise RubricforgeError("judge either a dataset or a snapshot (give exactly one)")
    with engine.connect() as conn:
        if snapshot_id is not None:
            version: Any = SnapshotItem.rubric_version_id
            q = (
                select(
                    Response.id, Response.text, Prompt.question, Prompt.reference_answer, version
                )
                .join(Prompt, Prompt.id == Response.prompt_id)
                .join(SnapshotItem, SnapshotItem.prompt_id == Prompt.id)
                .where(SnapshotItem.snapshot_id == snapshot_id)
            )
        else:
            if conn.execute(select(Dataset.id).where(Dataset.name == dataset)).first() is None:
                raise NotFoundError(f"no dataset named '{dataset}'")
            version = Rubric.head_version_id
            q = (
                select(
                    Response.id, Response.text, Prompt.question, Prompt.reference_answer, version
                )
                .join(Prompt, Prompt.id == Response.prompt_id)
                .join(Dataset, Dataset.id == Prompt.dataset_id)
                .outerjoin(Rubric, Rubric.prompt_id == Prompt.id)
                .where(Dataset.name == dataset)
            )
        if source is not None:
            q = q.where(Response.source == source)
        if response_ids is not None:
            q = q.where(Response.id.in_(response_ids))
        rows = conn.execute(q.order_by(Response.id)).all()
        version_ids = sorted({r[4] for r in rows if r[4] is not None})
        crit_rows = conn.execute(
            select(
                Criterion.version_id,
                Criterion.id,
                Criterion.key,
                Criterion.title,
                Criterion.description,
                Criterion.category,
                Criterion.weight,
            )
            .where(Criterion.version_id.in_(version_ids))
            .order_by(Criterion.version_id, Criterion.position)
        ).all()
    criteria: dict[int, list[tuple[int, CriterionData]]] = {}
    for vid, cid, key, title, desc, cat, weight in crit_rows:
        criteria.setdefault(vid, []).append((cid, CriterionData(title, desc, cat, weight, key=key)))
    targets = []
    for rid, text, question, reference, vid in rows:
        crits = criteria.get(vid, []) if vid is not None else []
        targets.append(
            _Target(
                response_id=rid,
                version_id=vid,
                criterion_ids=tuple(c for c, _ in crits),
                item=JudgeItem(question, text, tuple(c for _, c in crits), reference or None),
            )
        )
    return targets


def run_judge(
    engine: Engine,
    config: JudgeConfig,
    *,
    dataset: str | None = None,
    snapshot_id: int | None = None,
    response_source: str | None = None,
    response_ids: Sequence[int] | None = None,
    actor: UserInfo,
    progress: bool = False,
    on_chunk: Callable[[int, int], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> JudgeRunReport:
    """Judge every stored response of a dataset or snapshot; returns the run's report.
    `on_start` gets the run id once its row is committed (the app's background runs)."""
    require(actor, Action.run_judge)
    targets = _targets(
        engine,
        dataset=dataset,
        snapshot_id=snapshot_id,
        source=response_source,
        response_ids=response_ids,
    )
    if not targets:
        raise RubricforgeError("no stored responses to judge; import or generate responses first")
    judge = Judge(config, engine=engine)
    scope: dict[str, Any] = {
        "dataset": dataset,
        "snapshot_id": snapshot_id,
        "source": response_source,
    }
    with session_scope(engine) as s:
        run = JudgeRun(
            model=config.endpoint.model,
            base_url=config.endpoint.base_url,
            mode=config.mode,
            template_hash=judge.template_hash,
            status=Status.running,
            scope=scope,
            params={
                "aggregation": config.aggregation.value,
                "per_criterion": config.per_criterion,
                "concurrency": config.concurrency,
                "temperature": config.endpoint.temperature,
            },
            created_by_id=actor.id,
            started_at=datetime.now(UTC),
            heartbeat_at=datetime.now(UTC),
            total=len(targets),
        )
        s.add(run)
        s.flush()
        run_id = run.id
        audit(
            s,
            actor=actor.username,
            user_id=actor.id,
            action="judge_run.start",
            entity="judge_run",
            entity_id=run_id,
            details={"model": config.endpoint.model, "mode": config.mode.value, **scope},
        )
    totals = {"done": 0, "failed": 0, "cached": 0, "tin": 0, "tout": 0, "nul_replaced": 0}
    rewards: list[float] = []
    try:
        if on_start:
            on_start(run_id)
        for start in range(0, len(targets), CHUNK):
            chunk = targets[start : start + CHUNK]
            results = asyncio.run(judge.judge_many([t.item for t in chunk], progress=progress))
            _store(engine, run_id, chunk, results, totals)
            rewards += [r.reward for r in results if r.reward is not None]
            if on_chunk:
                on_chunk(totals["done"], len(targets))
    except BaseException as exc:
        _finish(engine, run_id, Status.failed, totals, config, error=str(exc) or type(exc).__name__)
        raise
    status = Status.failed if totals["failed"] == len(targets) else Status.succeeded
    cost = _finish(engine, run_id, status, totals, config)
    return JudgeRunReport(
        run_id=run_id,
        total=len(targets),
        judged=totals["done"] - totals["failed"],
        failed=totals["failed"],
        cached=totals["cached"],
        tokens_in=totals["tin"],
        tokens_out=totals["tout"],
        cost_usd=cost,
        mean_reward=sum(rewards) / len(rewards) if rewards else None,
        nul_replaced=totals["nul_replaced"],
    )


class RunAbandonedError(RubricforgeError):
    """The run's row is no longer running: someone marked it failed."""


def _store(
    engine: Engine,
    run_id: int,
    chunk: Sequence[_Target],
    results: Sequence[JudgeResult],
    totals: dict[str, int],
) -> None:
    rows = [
        {
            "run_id": run_id,
            "response_id": t.response_id,
            "rubric_version_id": t.version_id,
            "ok": r.ok,
            "error": r.error,
            "rating": r.rating,
            "reward": r.reward,
            "cached": r.cached,
            "tokens_in": r.tokens_in,
            "tokens_out": r.tokens_out,
            "latency_ms": r.latency_ms,
        }
        for t, r in zip(chunk, results, strict=True)
    ]
    with session_scope(engine) as s:
        ids = (
            s.execute(insert(Judgment).returning(Judgment.id, sort_by_parameter_order=True), rows)
            .scalars()
            .all()
        )
        verdicts = [
            {
                "judgment_id": jid,
                "criterion_id": cid,
                "met": v.met,
                "ok": v.ok,
                "rationale": v.rationale,
            }
            for jid, t, r in zip(ids, chunk, results, strict=True)
            for cid, v in zip(t.criterion_ids, r.verdicts, strict=False)
        ]
        if verdicts:
            s.execute(insert(Verdict), verdicts)
        totals["done"] += len(chunk)
        totals["failed"] += sum(not r.ok for r in results)
        totals["cached"] += sum(r.cached for r in results)
        totals["nul_replaced"] += sum(r.nul_replaced for r in results)
        totals["tin"] += sum(r.tokens_in for r in results)
        totals["tout"] += sum(r.tokens_out for r in results)
        touched = s.execute(
            update(JudgeRun)
            .where(JudgeRun.id == run_id, JudgeRun.status == Status.running)
            .values(
                done=totals["done"],
                failed=totals["failed"],
                tokens_in=totals["tin"],
                tokens_out=totals["tout"],
                heartbeat_at=datetime.now(UTC),
            )
        )
        # No row updated: the run was marked abandoned meanwhile (background.mark_abandoned).
        if cast(CursorResult[Any], touched).rowcount == 0:
            raise RunAbandonedError(f"judge run {run_id} was marked failed; stopping")


def _finish(
    engine: Engine,
    run_id: int,
    status: Status,
    totals: dict[str, int],
    config: JudgeConfig,
    error: str | None = None,
) -> float | None:
    ep = config.endpoint
    cost = None
    if ep.price_in_per_mtok is not None and ep.price_out_per_mtok is not None:
        cost = (totals["tin"] * ep.price_in_per_mtok + totals["tout"] * ep.price_out_per_mtok) / 1e6
    with session_scope(engine) as s:
        finished = s.execute(
            update(JudgeRun)
            # A run someone marked abandoned keeps that outcome.
            .where(JudgeRun.id == run_id, JudgeRun.status == Status.running)
            .values(status=status, finished_at=datetime.now(UTC), error=error, cost_usd=cost)
        )
        if cast(CursorResult[Any], finished).rowcount == 0:
            return cost
        audit(
            s,
            actor="system",
            action=f"judge_run.{status.value}",
            entity="judge_run",
            entity_id=run_id,
            details={k: v for k, v in totals.items()},
        )
    return cost


def run_progress(engine: Engine, run_id: int) -> dict[str, Any]:
    """What the app's progress panel shows."""
    with session_scope(engine) as s:
        r = s.get(JudgeRun, run_id)
        if r is None:
            raise NotFoundError(f"no judge run {run_id}")
        return {
            "status": r.status.value,
            "done": r.done,
            "total": r.total,
            "failed": r.failed,
            "tokens_in": r.tokens_in,
            "tokens_out": r.tokens_out,
        }
