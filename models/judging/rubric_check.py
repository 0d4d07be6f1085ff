"""Rubric check, after RaR's judge-alignment experiment: a good rubric scores the
reference answer above degraded versions of it.

Variants: `truncated` (deterministic: the first half of the reference's
sentences), and `key_fact_removed` / `pitfall_inserted`, written by an LLM or
pasted by the expert. Variants are stored as responses (source "reference" and
"degraded:<kind>") and judged in one judge run whose scope names the check, so
the outcome can be recomputed and shown per dataset.

Reward-hacking probes (`models.judging.probes`: the criteria restated as claims,
a hedged "X or not X" answer, a bare keyword list, the reference with its key fact
negated; source "probe:<kind>") are judged in the same run. A probe is *rewarded*
when its reward is at or above the reference's, or above `PROBE_THRESHOLD`: the
judge, with this rubric, pays for an answer that says nothing right.
"""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from dataclasses import dataclass, field

from pydantic import BaseModel, Field
from rubricforge.models.accounts.permissions import Action, UserInfo, require
from rubricforge.models.core.db import session_scope
from rubricforge.models.core.errors import NotFoundError, RubricforgeError
from rubricforge.models.judging.judge import JudgeConfig
from rubricforge.models.judging.orm import UNKNOWN_AUTHOR, Judgment, Response
from rubricforge.models.judging.probes import PROBE, ProbeCriterion, build_probes
from rubricforge.models.judging.responses import content_hash
from rubricforge.models.judging.runs import JudgeRunReport, run_judge
from rubricforge.models.llm.client import LLMClient
from rubricforge.models.llm.config import EndpointConfig
from rubricforge.models.rubrics.orm import Criterion, Dataset, Prompt, Rubric
from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert

REFERENCE = "reference"
DEGRADED = "degraded:"
KINDS = ("truncated", "key_fact_removed", "pitfall_inserted")
PROBE_THRESHOLD = 0.5  # a probe rewarded above this is a hack, whatever the reference got

VARIANT_PROMPT = """You help test a grading rubric. Below are a question and its expert
reference answer. Write two degraded copies of the reference answer:
- "key_fact_removed": the same answer with its single most important fact or conclusion
  removed (keep everything else word for word where possible);
- "pitfall_inserted": the same answer with one plausible but clearly wrong claim inserted
  (a common mistake for this question).
Return {{"key_fact_removed": "...", "pitfall_inserted": "..."}}.

QUESTION:
{question}

REFERENCE ANSWER:
{reference}"""


class Variants(BaseModel):
    key_fact_removed: str = Field(min_length=1)
    pitfall_inserted: str = Field(min_length=1)


def truncate(reference: str) -> str:
    """The first half of the sentences (at least one sentence shorter than the whole)."""
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", reference.strip()) if s]
    if len(sentences) < 2:
        words = reference.split()
        return " ".join(words[: max(1, len(words) // 2)])
    return " ".join(sentences[: max(1, len(sentences) // 2)])


@dataclass(frozen=True)
class PromptCheck:
    prompt_id: int
    external_id: str
    reference_reward: float | None
    variant_rewards: dict[str, float | None]
    probe_rewards: dict[str, float | None] = field(default_factory=dict)
    probe_texts: dict[str, str] = field(default_factory=dict)

    def rewarded_probes(self, threshold: float = PROBE_THRESHOLD) -> list[str]:
        """Probes the judge rewards: at or above the reference, or above `threshold`."""
        ref = self.reference_reward
        return [
            kind
            for kind, reward in self.probe_rewards.items()
            if reward is not None and ((ref is not None and reward >= ref) or reward > threshold)
        ]

    @property
    def passed(self) -> bool | None:
        """Reference strictly above every variant; None when a judgment failed."""
        scores = list(self.variant_rewards.values())
        if self.reference_reward is None or not scores or any(s is None for s in scores):
            return None
        return all(self.reference_reward > s for s in scores)  # type: ignore[operator]


@dataclass(frozen=True)
class CheckReport:
    run: JudgeRunReport
    prompts: list[PromptCheck]

    @property
    def pass_share(self) -> float | None:
        decided = [p.passed for p in self.prompts if p.passed is not None]
        return sum(decided) / len(decided) if decided else None

    def summary(self) -> str:
        share = f"{self.pass_share:.0%}" if self.pass_share is not None else "n/a"
        failed = [p.external_id for p in self.prompts if p.passed is False]
        tail = (
            f"; scores a variant at or above the reference: {', '.join(failed)}" if failed else ""
        )
        hacked = [f"{p.external_id} ({', '.join(k)})" for p in self.prompts
                  if (k := p.rewarded_probes())]  # fmt: skip
        if hacked:
            tail += f"; rewards hacking probes: {'; '.join(hacked)}"
        return f"{len(self.prompts)} rubrics checked, {share} pass{tail}"


def _prompts(
    engine: Engine, dataset: str, prompt_ids: list[int] | None
) -> list[tuple[int, str, str, str]]:
    with engine.connect() as conn:
        q = (
            select(Prompt.id, Prompt.external_id, Prompt.question, Prompt.reference_answer)
            .join(Dataset, Dataset.id == Prompt.dataset_id)
            .where(Dataset.name == dataset)
        )
        if prompt_ids:
            q = q.where(Prompt.id.in_(prompt_ids))
        rows = [(r[0], r[1], r[2], r[3]) for r in conn.execute(q.order_by(Prompt.id))]
    if not rows:
        raise NotFoundError(f"no prompts in dataset '{dataset}' to check")
    missing = [r[1] for r in rows if not (r[3] or "").strip()]
    if missing:
        raise RubricforgeError(
            f"these prompts have no reference answer to check against: {', '.join(missing[:10])}"
        )
    return rows  # type: ignore[return-value]


def _probe_criteria(engine: Engine, prompt_ids: list[int]) -> dict[int, list[ProbeCriterion]]:
    """The head rubric version's criteria per prompt, in rubric order."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Rubric.prompt_id, Criterion.title, Criterion.description, Criterion.weight)
            .join(Criterion, Criterion.version_id == Rubric.head_version_id)
            .where(Rubric.prompt_id.in_(prompt_ids))
            .order_by(Rubric.prompt_id, Criterion.position)
        ).all()
    out: dict[int, list[ProbeCriterion]] = defaultdict(list)
    for pid, title, description, weight in rows:
        out[pid].append(ProbeCriterion(title, description, float(weight)))
    return out


async def _llm_variants(
    endpoint: EndpointConfig, rows: list[tuple[int, str, str, str]]
) -> dict[int, Variants]:
    async with LLMClient(endpoint, concurrency=8) as client:

        async def one(pid: int, q: str, ref: str) -> tuple[int, Variants]:
            v, _ = await client.complete_json(
                [{"role": "user", "content": VARIANT_PROMPT.format(question=q, reference=ref)}],
                Variants,
            )
            return pid, v

        return dict(await asyncio.gather(*(one(p, q, r) for p, _, q, r in rows)))


def check_rubrics(
    engine: Engine,
    dataset: str,
    config: JudgeConfig,
    *,
    prompt_ids: list[int] | None = None,
    pasted: dict[int, dict[str, str]] | None = None,
    variant_endpoint: EndpointConfig | None = None,
    probes: bool = True,
    actor: UserInfo,
) -> CheckReport:
    """Store the reference, its variants and (with `probes`) the reward-hacking probes
    as responses, judge them, compare."""
    require(actor, Action.run_judge)
    rows = _prompts(engine, dataset, prompt_ids)
    rubric = _probe_criteria(engine, [r[0] for r in rows]) if probes else {}
    probe_texts = {pid: build_probes(ref, rubric[pid]) for pid, _e, _q, ref in rows if probes}
    pasted = pasted or {}
    generated = (
        asyncio.run(_llm_variants(variant_endpoint, [r for r in rows if r[0] not in pasted]))
        if variant_endpoint is not None
        else {}
    )
    values = []
    for pid, _ext, _q, ref in rows:
        texts = {REFERENCE: ref, DEGRADED + "truncated": truncate(ref)}
        if pid in generated:
            texts[DEGRADED + "key_fact_removed"] = generated[pid].key_fact_removed
            texts[DEGRADED + "pitfall_inserted"] = generated[pid].pitfall_inserted
        for kind, text in pasted.get(pid, {}).items():
            if kind not in KINDS or not text.strip():
                raise RubricforgeError(
                    f"pasted variant '{kind}' must be one of {', '.join(KINDS)} and not empty"
                )
            texts[DEGRADED + kind] = text
        for kind, text in probe_texts.get(pid, {}).items():
            texts[PROBE + kind] = text
        values += [
            {
                "prompt_id": pid,
                "text": t,
                "source": s,
                "author_model": "human" if s == REFERENCE else UNKNOWN_AUTHOR,
                "content_hash": content_hash(t),
                "meta": {"rubric_check": True, **({"probe": True} if s.startswith(PROBE) else {})},
            }
            for s, t in texts.items()
        ]
    keys = {(v["prompt_id"], v["source"], v["content_hash"]) for v in values}
    with session_scope(engine) as s:
        s.execute(insert(Response).values(values).on_conflict_do_nothing())
        stored = s.execute(
            select(Response.id, Response.prompt_id, Response.source, Response.content_hash).where(
                Response.prompt_id.in_([r[0] for r in rows])
            )
        ).all()
    ids = [rid for rid, *key in stored if tuple(key) in keys]
    report = run_judge(engine, config, dataset=dataset, response_ids=ids, actor=actor)
    with engine.connect() as conn:
        judged = conn.execute(
            select(Response.prompt_id, Response.source, Judgment.reward)
            .join(Judgment, Judgment.response_id == Response.id)
            .where(Judgment.run_id == report.run_id)
        ).all()
    by_prompt: dict[int, dict[str, float | None]] = defaultdict(dict)
    for pid, source, reward in judged:
        by_prompt[pid][source] = reward
    checks = [
        PromptCheck(
            pid,
            ext,
            by_prompt[pid].get(REFERENCE),
            {
                s.removeprefix(DEGRADED): r
                for s, r in by_prompt[pid].items()
                if s.startswith(DEGRADED)
            },
            {s.removeprefix(PROBE): r for s, r in by_prompt[pid].items() if s.startswith(PROBE)},
            probe_texts.get(pid, {}),
        )
        for pid, ext, _q, _r in rows
    ]
    return CheckReport(report, checks)
