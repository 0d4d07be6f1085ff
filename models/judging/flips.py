"""Verdict flips: after an expert saves a new rubric version, re-judge only the
criteria that changed on the responses already judged, and show how many
verdicts and rewards flip, per criterion.

The base run's verdicts for unchanged criteria are carried over (matched by
criterion key); changed and added criteria are judged one call per criterion.
The result is a new judge run, so the base run stays as it was.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from rubricforge.models.accounts.permissions import Action, UserInfo, require
from rubricforge.models.core.audit import audit
from rubricforge.models.core.db import session_scope
from rubricforge.models.core.errors import NotFoundError, RubricforgeError
from rubricforge.models.core.status import Status
from rubricforge.models.judging.judge import Judge, JudgeConfig, JudgeItem
from rubricforge.models.judging.orm import JudgeMode, JudgeRun, Judgment, Response, Verdict
from rubricforge.models.judging.rewards import aggregate
from rubricforge.models.rubrics.criteria import CriterionData
from rubricforge.models.rubrics.diff import diff_criteria
from rubricforge.models.rubrics.orm import Criterion, Prompt, RubricVersion
from sqlalchemy import Engine, func, insert, select

TEXT_FIELDS = {"title", "description", "category"}  # a weight-only edit needs no new verdict


@dataclass(frozen=True)
class RejudgePlan:
    base_run_id: int
    old_version_id: int
    new_version_id: int
    responses: int
    criteria_to_judge: tuple[str, ...]  # keys of changed or added criteria
    calls: int
    est_tokens: int
    est_cost_usd: float | None

    def summary(self) -> str:
        cost = f" (about ${self.est_cost_usd:.4f})" if self.est_cost_usd is not None else ""
        return (
            f"{len(self.criteria_to_judge)} changed criteria x {self.responses} responses = "
            f"{self.calls} judge calls, about {self.est_tokens} tokens{cost}"
        )


@dataclass
class CriterionFlips:
    key: str
    title: str
    judged: int = 0
    flipped: int = 0  # verdict differs from the old version's


@dataclass
class FlipReport:
    run_id: int
    responses: int
    reward_flips: int  # responses whose reward moved by more than 1e-9
    mean_reward_delta: float
    criteria: list[CriterionFlips] = field(default_factory=list)
    failed: int = 0


def _criteria(engine: Engine, version_id: int) -> list[tuple[int, CriterionData]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                Criterion.id,
                Criterion.key,
                Criterion.title,
                Criterion.description,
                Criterion.category,
                Criterion.weight,
            )
            .where(Criterion.version_id == version_id)
            .order_by(Criterion.position)
        ).all()
    return [(cid, CriterionData(t, d, c, w, key=k)) for cid, k, t, d, c, w in rows]


def _keys_to_judge(old: Sequence[CriterionData], new: Sequence[CriterionData]) -> list[str]:
    d = diff_criteria(old, new)
    keys = [c.key for c in d.added]
    keys += [c.key for c in d.changed if any(f.field in TEXT_FIELDS for f in c.fields)]
    return keys


def _base_judgments(
    engine: Engine, run_id: int, old_version_id: int
) -> list[tuple[int, int, float | None]]:
    with engine.connect() as conn:
        return [
            (r[0], r[1], r[2])
            for r in conn.execute(
                select(Judgment.id, Judgment.response_id, Judgment.reward)
                .where(
                    Judgment.run_id == run_id,
                    Judgment.rubric_version_id == old_version_id,
                    Judgment.ok.is_(True),
                )
                .order_by(Judgment.response_id)
            )
        ]


@dataclass(frozen=True)
class BaseRun:
    """A judge run that judged responses against a rubric version: what flips compare to."""

    run_id: int
    model: str
    mode: str
    judgments: int

    def label(self) -> str:
        return f"run {self.run_id} · {self.model} · {self.mode} · {self.judgments} responses"


def base_runs(engine: Engine, version_id: int) -> list[BaseRun]:
    """Explicit judge runs with successful judgments on this version, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(JudgeRun.id, JudgeRun.model, JudgeRun.mode, func.count(Judgment.id))
            .join(Judgment, Judgment.run_id == JudgeRun.id)
            .where(
                Judgment.rubric_version_id == version_id,
                Judgment.ok.is_(True),
                JudgeRun.mode == JudgeMode.explicit,
            )
            .group_by(JudgeRun.id)
            .order_by(JudgeRun.id.desc())
        ).all()
    return [BaseRun(r[0], r[1], r[2].value, r[3]) for r in rows]


def plan_rejudge(
    engine: Engine,
    base_run_id: int,
    old_version_id: int,
    new_version_id: int,
    config: JudgeConfig,
) -> RejudgePlan:
    """What re-judging would cost, before anything is spent."""
    with session_scope(engine) as s:
        run = s.get(JudgeRun, base_run_id)
        if run is None:
            raise NotFoundError(f"no judge run {base_run_id}")
        old_v, new_v = s.get(RubricVersion, old_version_id), s.get(RubricVersion, new_version_id)
        if old_v is None or new_v is None or old_v.rubric_id != new_v.rubric_id:
            raise RubricforgeError("both versions must exist and belong to the same rubric")
        per_call = (run.tokens_in + run.tokens_out) / max(run.done, 1)
    keys = _keys_to_judge(
        [c for _, c in _criteria(engine, old_version_id)],
        [c for _, c in _criteria(engine, new_version_id)],
    )
    n = len(_base_judgments(engine, base_run_id, old_version_id))
    calls = n * len(keys)
    # One criterion per call is a fraction of a whole-rubric call; a third is a fair guess.
    est = int(calls * per_call / 3)
    ep = config.endpoint
    cost = None
    if ep.price_in_per_mtok is not None and ep.price_out_per_mtok is not None:
        cost = est * (ep.price_in_per_mtok + ep.price_out_per_mtok) / 2 / 1e6
    return RejudgePlan(
        base_run_id, old_version_id, new_version_id, n, tuple(keys), calls, est, cost
    )


def rejudge_changed(
    engine: Engine,
    plan: RejudgePlan,
    config: JudgeConfig,
    *,
    actor: UserInfo,
) -> FlipReport:
    """Re-judge the plan's criteria and store a new run; report the flips."""
    require(actor, Action.run_judge)
    cfg = JudgeConfig(
        config.endpoint,
        mode=config.mode,
        aggregation=config.aggregation,
        per_criterion=True,
        concurrency=config.concurrency,
    )
    old = _criteria(engine, plan.old_version_id)
    new = _criteria(engine, plan.new_version_id)
    old_id_by_key = {c.key: cid for cid, c in old}
    to_judge = set(plan.criteria_to_judge)
    base = _base_judgments(engine, plan.base_run_id, plan.old_version_id)
    with engine.connect() as conn:
        old_met = {
            (j, c): m
            for j, c, m in conn.execute(
                select(Verdict.judgment_id, Verdict.criterion_id, Verdict.met).where(
                    Verdict.judgment_id.in_([b[0] for b in base])
                )
            )
        }
        texts = dict(
            conn.execute(
                select(Response.id, Response.text).where(Response.id.in_([b[1] for b in base]))
            ).all()
        )
        question = conn.execute(
            select(Prompt.question)
            .join(Response, Response.prompt_id == Prompt.id)
            .where(Response.id.in_([b[1] for b in base]))
            .limit(1)
        ).scalar()
    changed = [c for _, c in new if c.key in to_judge]
    items = [JudgeItem(question or "", texts[rid], tuple(changed)) for _, rid, _ in base]
    judge = Judge(cfg, engine=engine)
    results = asyncio.run(judge.judge_many(items)) if changed else []
    flips = {c.key: CriterionFlips(c.key, c.title) for c in changed}
    weights = [c.weight for _, c in new]
    report = FlipReport(run_id=0, responses=len(base), reward_flips=0, mean_reward_delta=0.0)
    rows, verdict_rows, deltas = [], [], []
    for n, (jid, rid, old_reward) in enumerate(base):
        res = results[n] if changed else None
        if res is not None and not res.ok:
            report.failed += 1
            continue
        fresh = {c.key: v for c, v in zip(changed, res.verdicts, strict=True)} if res else {}
        met: list[bool] = []
        per_criterion: list[tuple[int, bool | None, str]] = []
        for cid, c in new:
            if c.key in fresh:
                m, why = fresh[c.key].met, fresh[c.key].rationale
                before = old_met.get((jid, old_id_by_key.get(c.key, -1)))
                flips[c.key].judged += 1
                if before is not None and before != m:
                    flips[c.key].flipped += 1
            else:
                m, why = old_met.get((jid, old_id_by_key[c.key])), "carried over"
            met.append(bool(m))
            per_criterion.append((cid, m, why))
        reward = aggregate(cfg.aggregation, weights, met)
        deltas.append(reward - (old_reward or 0.0))
        rows.append(
            {
                "response_id": rid,
                "rubric_version_id": plan.new_version_id,
                "ok": True,
                "reward": reward,
                "tokens_in": res.tokens_in if res else 0,
                "tokens_out": res.tokens_out if res else 0,
                "cached": bool(res and res.cached),
            }
        )
        verdict_rows.append(per_criterion)
    with session_scope(engine) as s:
        run = JudgeRun(
            model=cfg.endpoint.model,
            base_url=cfg.endpoint.base_url,
            mode=cfg.mode,
            template_hash=judge.template_hash,
            status=Status.succeeded,
            total=len(base),
            done=len(rows),
            failed=report.failed,
            scope={
                "rejudge_of": plan.base_run_id,
                "old_version": plan.old_version_id,
                "new_version": plan.new_version_id,
                "rejudged": sorted(to_judge),
            },
            params={"aggregation": cfg.aggregation.value, "per_criterion": True},
            created_by_id=actor.id,
            started_at=datetime.now(UTC),
            finished_at=datetime.now(UTC),
            tokens_in=sum(r["tokens_in"] for r in rows),
            tokens_out=sum(r["tokens_out"] for r in rows),
        )
        s.add(run)
        s.flush()
        if rows:
            ids = (
                s.execute(
                    insert(Judgment).returning(Judgment.id, sort_by_parameter_order=True),
                    [{**r, "run_id": run.id} for r in rows],
                )
                .scalars()
                .all()
            )
            s.execute(
                insert(Verdict),
                [
                    {
                        "judgment_id": jid,
                        "criterion_id": cid,
                        "met": m,
                        "ok": m is not None,
                        "rationale": why,
                    }
                    for jid, vs in zip(ids, verdict_rows, strict=True)
                    for cid, m, why in vs
                ],
            )
        report.run_id = run.id
        report.reward_flips = sum(abs(d) > 1e-9 for d in deltas)
        report.mean_reward_delta = sum(deltas) / len(deltas) if deltas else 0.0
        report.criteria = list(flips.values())
        audit(
            s,
            actor=actor.username,
            user_id=actor.id,
            action="judge_run.rejudge",
            entity="judge_run",
            entity_id=run.id,
            details={
                "base_run": plan.base_run_id,
                "flips": {k: f.flipped for k, f in flips.items()},
                "reward_flips": report.reward_flips,
            },
        )
    return report
