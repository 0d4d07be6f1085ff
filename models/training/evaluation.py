"""Evaluation: a policy scored on a held-out snapshot, by the rubric judge and, side by
side, by the same judge model without the rubric (RaR's Direct-Likert baseline).

The policy is an OpenAI-compatible endpoint (`EndpointPolicy`, here) or a checkpoint
folder (`rubricforge.trainer.evaluate.CheckpointPolicy`, the only place that loads
torch); both answer every prompt of the snapshot once. Each completion is judged
twice: with the chosen judge (a job's `judge` spec: explicit or implicit, with the
rubric) and with `likert` mode on the same model (no rubric). A failed judgment is
stored with no reward and counted, never scored as a default.

Nothing is written until every completion is generated and judged: a missing
snapshot, an unreachable policy endpoint, a checkpoint that is not there or a judge
that fails on everything raises a message and stores nothing. The run and its
per-prompt rows are written in one transaction, next to the job when one is given.
Comparisons between runs are in models/training/evaluation_compare.py.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from rubricforge.models.accounts.permissions import Action, UserInfo, require
from rubricforge.models.core.audit import audit
from rubricforge.models.core.db import session_scope
from rubricforge.models.core.errors import (
    InvalidInputError,
    LLMError,
    NotFoundError,
    RubricforgeError,
)
from rubricforge.models.core.text_safety import clean_text
from rubricforge.models.data.snapshot_rows import (
    SnapshotRow,
    get_snapshot,
    prompt_text,
    read_rows,
    snapshot_items,
)
from rubricforge.models.judging.judge import Judge, JudgeConfig, JudgeItem, JudgeResult
from rubricforge.models.judging.orm import JudgeMode
from rubricforge.models.llm.client import LLMClient
from rubricforge.models.llm.config import EndpointConfig
from rubricforge.models.rubrics.orm import Category
from rubricforge.models.training.config import JudgeSpec
from rubricforge.models.training.orm import EvalRun, EvalScore, TrainingJob
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from tqdm import tqdm

LABEL_MAX = 200  # the column's length
RUBRIC_MODES = (JudgeMode.explicit, JudgeMode.implicit)


class EvalError(RubricforgeError):
    """The evaluation could not run (policy failed, judge failed everywhere, ...)."""


Chat = list[dict[str, str]]


class Policy(Protocol):
    """What answers the prompts: one completion per chat, in order. Raises EvalError."""

    @property
    def kind(self) -> str: ...

    @property
    def source(self) -> str: ...

    def generate(self, chats: Sequence[Chat], *, progress: bool = False) -> list[str]: ...


@dataclass(frozen=True)
class EndpointPolicy:
    """A policy served behind an OpenAI-compatible endpoint (vLLM, a hosted model)."""

    endpoint: EndpointConfig
    concurrency: int = 16

    @property
    def kind(self) -> str:
        return "endpoint"

    @property
    def source(self) -> str:
        return self.endpoint.describe()

    def generate(self, chats: Sequence[Chat], *, progress: bool = False) -> list[str]:
        self.endpoint.api_key()  # an unset key variable is named before any request
        return asyncio.run(self._generate(chats, progress))

    async def _generate(self, chats: Sequence[Chat], progress: bool) -> list[str]:
        bar = tqdm(total=len(chats), desc="generating", unit="prompt", disable=not progress)

        async def one(client: LLMClient, chat: Chat) -> str:
            reply = await client.chat(chat)
            bar.update()
            return reply.content or ""

        async with LLMClient(self.endpoint, concurrency=self.concurrency) as client:
            replies = await asyncio.gather(*(one(client, c) for c in chats), return_exceptions=True)
        bar.close()
        failed = [r for r in replies if isinstance(r, BaseException)]
        for exc in failed:
            if not isinstance(exc, LLMError):
                raise exc
        if failed:
            raise EvalError(
                f"the policy endpoint {self.source} failed on {len(failed)} of {len(replies)} "
                f"prompts; the first: {failed[0]} Nothing was stored; check that the endpoint "
                "is up and serves the policy, then try again."
            )
        return [str(r) for r in replies]


def _mean(values: Sequence[float | None]) -> float | None:
    scored = [v for v in values if v is not None]
    return statistics.fmean(scored) if scored else None


def category_rates(rows: Sequence[SnapshotRow], results: Sequence[JudgeResult]) -> dict[str, float]:
    """Per category, the share of its criteria the judge called met, over the
    judgments that succeeded (for Pitfall: the share of pitfalls hit). Empty for a
    rating judge, which gives no per-criterion verdicts."""
    met: dict[Category, list[bool]] = {}
    for row, result in zip(rows, results, strict=True):
        if not result.ok or not result.verdicts:
            continue
        for item, verdict in zip(row.rubric, result.verdicts, strict=True):
            met.setdefault(item.category, []).append(bool(verdict.met))
    return {c.value: sum(met[c]) / len(met[c]) for c in Category if met.get(c)}


def _judges(spec: JudgeSpec, engine: Engine) -> tuple[Judge, Judge]:
    endpoint = spec.endpoint()
    rubric = JudgeConfig(
        endpoint=endpoint,
        mode=spec.mode,
        aggregation=spec.aggregation,
        per_criterion=spec.per_criterion,
        concurrency=spec.concurrency,
    )
    likert = JudgeConfig(endpoint=endpoint, mode=JudgeMode.likert, concurrency=spec.concurrency)
    return Judge(rubric, engine=engine), Judge(likert, engine=engine)


async def _judge_both(
    rubric: Judge, likert: Judge, items: list[JudgeItem], progress: bool
) -> tuple[list[JudgeResult], list[JudgeResult]]:
    with_rubric, without = await asyncio.gather(
        rubric.judge_many(items, progress=progress), likert.judge_many(items, progress=progress)
    )
    return with_rubric, without


def _check_label(label: str) -> str:
    cleaned = clean_text(label)[0].strip()
    if not cleaned or len(cleaned) > LABEL_MAX:
        raise InvalidInputError(
            f"name the policy in 1-{LABEL_MAX} characters (e.g. base or job-12-step-300)"
        )
    return cleaned


def _load(engine: Engine, snapshot_id: int, job_id: int | None) -> tuple[str, list[SnapshotRow]]:
    with session_scope(engine) as session:
        try:
            snapshot = get_snapshot(session, snapshot_id)
        except NotFoundError:
            raise NotFoundError(
                f"export snapshot {snapshot_id} does not exist; the Data page and "
                "rubricforge export list and make snapshots. Nothing was evaluated."
            ) from None
        if job_id is not None and session.get(TrainingJob, job_id) is None:
            raise NotFoundError(f"training job {job_id} does not exist. Nothing was evaluated.")
        return snapshot.sha256, read_rows(session, snapshot_items(snapshot_id))


def run_eval(
    engine: Engine,
    *,
    actor: UserInfo,
    snapshot_id: int,
    judge: JudgeSpec,
    policy: Policy,
    label: str,
    job_id: int | None = None,
    limit: int | None = None,
    progress: bool = False,
) -> int:
    """Score `policy` on the snapshot's prompts (the first `limit`, in snapshot order)
    with `judge` and with the rubric-free judge; store the run; return its id.

    Raises PermissionDenied, InvalidInputError (label, judge mode, limit),
    NotFoundError (snapshot, job), LLMConfigError (a key variable unset) and
    EvalError (the policy failed, or the judge failed on every completion).
    Nothing is stored unless the whole run is."""
    require(actor, Action.train)
    label = _check_label(label)
    if judge.mode not in RUBRIC_MODES:
        raise InvalidInputError(
            f"the judge's mode is {judge.mode.value}, which ignores the rubric; evaluate with "
            "explicit or implicit (the rubric-free Likert score is computed beside it)"
        )
    if limit is not None and limit < 1:
        raise InvalidInputError("the prompt limit must be at least 1")
    judge.endpoint().api_key()  # an unset key variable is named before any generation
    sha256, rows = _load(engine, snapshot_id, job_id)
    rows = rows[:limit] if limit else rows
    if not rows:
        raise EvalError(f"snapshot {snapshot_id} has no prompts to evaluate on")
    completions = policy.generate([r.chat() for r in rows], progress=progress)
    if len(completions) != len(rows):
        raise EvalError(f"the policy gave {len(completions)} completions for {len(rows)} prompts")
    completions = [clean_text(c)[0] for c in completions]
    items = [
        JudgeItem(
            prompt=prompt_text(row.chat()),
            response=text,
            criteria=row.criteria(),
            reference_answer=row.reference_answer,
        )
        for row, text in zip(rows, completions, strict=True)
    ]
    rubric_judge, likert_judge = _judges(judge, engine)
    with_rubric, without = asyncio.run(_judge_both(rubric_judge, likert_judge, items, progress))
    if not any(r.ok for r in with_rubric) and not any(r.ok for r in without):
        first = next((r.error for r in with_rubric if r.error), "no reply")
        raise EvalError(
            f"the judge {judge.model} at {judge.base_url} failed on every completion; the "
            f"first: {first}. Nothing was stored; check the judge endpoint and try again."
        )
    with session_scope(engine) as session:
        return _store(
            session,
            actor=actor,
            label=label,
            policy=policy,
            snapshot=(snapshot_id, sha256),
            job_id=job_id,
            spec=judge,
            judges=(rubric_judge, likert_judge),
            rows=rows,
            completions=completions,
            results=(with_rubric, without),
        )


def _store(
    session: Session,
    *,
    actor: UserInfo,
    label: str,
    policy: Policy,
    snapshot: tuple[int, str],
    job_id: int | None,
    spec: JudgeSpec,
    judges: tuple[Judge, Judge],
    rows: Sequence[SnapshotRow],
    completions: Sequence[str],
    results: tuple[Sequence[JudgeResult], Sequence[JudgeResult]],
) -> int:
    with_rubric, without = results
    rubric_rewards = [r.reward if r.ok else None for r in with_rubric]
    likert_rewards = [r.reward if r.ok else None for r in without]
    run = EvalRun(
        job_id=job_id,
        policy_label=label,
        policy_kind=policy.kind,
        policy_source=clean_text(policy.source)[0],
        snapshot_id=snapshot[0],
        snapshot_sha256=snapshot[1],
        judge={
            "base_url": spec.base_url,
            "model": spec.model,
            "mode": spec.mode.value,
            "aggregation": spec.aggregation.value,
            "per_criterion": spec.per_criterion,
            "template_hash": judges[0].template_hash,
            "likert_template_hash": judges[1].template_hash,
        },
        rubric_mean=_mean(rubric_rewards),
        likert_mean=_mean(likert_rewards),
        category_rates=category_rates(rows, with_rubric),
        n=len(rows),
        rubric_failures=sum(r is None for r in rubric_rewards),
        likert_failures=sum(r is None for r in likert_rewards),
        created_by_id=actor.id,
    )
    session.add(run)
    session.flush()
    session.add_all(
        EvalScore(
            run_id=run.id,
            position=n,
            prompt_id=row.prompt_id,
            uid=row.uid,
            completion=text,
            rubric_reward=rubric_rewards[n],
            likert_reward=likert_rewards[n],
            verdicts=[
                [c.category.value, v.met] for c, v in zip(row.rubric, r.verdicts, strict=False)
            ]
            if r.ok
            else [],
            error="; ".join(e for e in (r.error, free.error) if e) or None,
        )
        for n, (row, text, r, free) in enumerate(
            zip(rows, completions, with_rubric, without, strict=True)
        )
    )
    audit(
        session,
        actor=actor.username,
        action="training.eval",
        entity="eval_run",
        entity_id=run.id,
        details={"snapshot_id": snapshot[0], "job_id": job_id, "label": label, "n": len(rows)},
        user_id=actor.id,
    )
    return run.id
