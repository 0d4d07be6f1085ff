"""Reward preview: what a GRPO job's reward would look like, before spending GPU hours.

For a seeded sample of the snapshot's prompts, K completions (by default the
job's generations per prompt, GRPO's group) are sampled from the policy endpoint
(an OpenAI-compatible server with the base model, e.g. vLLM) at the job's
temperature and length, and scored with the job's reward: its judge, reward
preset and fallback for a failed judgment, through the same judge config and
`aggregate` as the trainer's reward function. Per-category pass rates come with
it, counted as the trainer counts them (models/judging/category_rates.py).
GRPO learns from the spread of the K rewards within a prompt's group; a group
whose K rewards are all equal has zero advantage everywhere and gives no
gradient. The preview reports those groups per rubric, worst first, with the
prompt id so the expert can open the rubric in the editor.

The preview stores nothing: completions and rewards are returned to the
caller (the page keeps them in its session, the CLI prints them). Only the
judge's own cache (llm_cache) remembers the judgments, so scoring the same
completions again is free.
"""

from __future__ import annotations

import asyncio
import random
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rubricforge.models.core.errors import InvalidInputError, LLMError, RubricforgeError
from rubricforge.models.data.snapshot_rows import SnapshotRow, load_snapshot_rows, prompt_text
from rubricforge.models.judging.category_rates import (
    CategoryCounts,
    add_counts,
    rate_metrics,
    result_counts,
    sample_pass_counts,
)
from rubricforge.models.judging.judge import Judge, JudgeItem
from rubricforge.models.llm.client import LLMClient
from rubricforge.models.llm.config import EndpointConfig
from rubricforge.models.rubrics.orm import Category
from rubricforge.models.training.config import JobConfig, parse_job_config
from sqlalchemy import Engine
from tqdm import tqdm

ZERO_SPREAD_TOL = 1e-9  # rewards closer than this count as equal (no advantage)
HISTOGRAM_BINS = 10
QUESTION_PREVIEW = 200


class PreviewError(RubricforgeError):
    """The preview could not be computed (the policy endpoint failed, ...)."""


class PreviewSettings(BaseModel):
    """How much to sample: prompts from the snapshot, completions per prompt."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompts: int = Field(default=20, ge=1, le=2000, description="Prompts sampled (seeded).")
    k: int | None = Field(
        default=None,
        ge=2,
        le=1024,
        description="Completions per prompt (GRPO's group); default: the job's num_generations.",
    )
    seed: int = Field(default=0, description="Seed of the prompt sample.")
    concurrency: int = Field(default=16, ge=1, le=1024, description="Policy requests in flight.")

    @classmethod
    def build(cls, **values: Any) -> PreviewSettings:
        try:
            return cls(**values)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise InvalidInputError(f"preview {err['loc'][0]}: {err['msg']}") from None


@dataclass(frozen=True)
class GroupPreview:
    """One prompt's K rewards."""

    prompt_id: int  # the editor's ?prompt= target
    uid: str
    dataset: str
    question: str  # the first QUESTION_PREVIEW characters
    criteria: int
    rewards: tuple[float, ...]
    mean: float
    std: float  # sample standard deviation, as TRL's reward_std
    zero_spread: bool  # all K equal: no GRPO gradient from this prompt
    judge_failures: int  # completions that got the fallback reward
    completions: tuple[str, ...]


@dataclass(frozen=True)
class RewardPreview:
    snapshot_id: int
    judge_model: str
    judge_mode: str
    template_hash: str
    policy_model: str
    k: int
    seed: int
    groups: tuple[GroupPreview, ...]  # worst first: zero spread, then smallest spread
    preset: str = ""
    # category -> (passed, judged) and the completions they come from (all judged
    # ones, or the explicit sample for the rating presets and the predefined rubric).
    category_counts: Mapping[Category, tuple[int, int]] = field(default_factory=dict)
    rated_completions: int = 0

    @property
    def category_rates(self) -> dict[str, float]:
        """The step metrics' names and values (rubric/essential_met_rate, ...)."""
        return rate_metrics(self.category_counts)

    @property
    def rewards(self) -> list[float]:
        return [r for g in self.groups for r in g.rewards]

    @property
    def zero_spread_share(self) -> float:
        return sum(g.zero_spread for g in self.groups) / len(self.groups)

    @property
    def judge_failures(self) -> int:
        return sum(g.judge_failures for g in self.groups)

    def histogram(self, bins: int = HISTOGRAM_BINS) -> list[tuple[float, float, int]]:
        """(low, high, count) over [0, 1], the range every reward mode maps to."""
        counts, edges = np.histogram(self.rewards, bins=bins, range=(0.0, 1.0))
        return [
            (float(lo), float(hi), int(n))
            for lo, hi, n in zip(edges[:-1], edges[1:], counts, strict=True)
        ]


def policy_endpoint(
    config: JobConfig, *, base_url: str, model: str | None = None, api_key_env: str | None = None
) -> EndpointConfig:
    """The policy endpoint, sampling as the job will: its temperature and length."""
    return EndpointConfig.build(
        base_url=base_url.strip(),
        model=(model or "").strip() or config.model_name_or_path,
        api_key_env=api_key_env,
        temperature=config.temperature,
        max_tokens=config.max_completion_length,
    )


async def _generate(
    policy: EndpointConfig,
    prompts: list[list[dict[str, str]]],
    k: int,
    concurrency: int,
    progress: bool,
) -> list[list[str]]:
    bar = tqdm(total=len(prompts) * k, desc="sampling", unit="completion", disable=not progress)

    async def one(client: LLMClient, messages: list[dict[str, str]]) -> str:
        reply = await client.chat(messages)
        bar.update()
        return reply.content or ""

    async with LLMClient(policy, concurrency=concurrency) as client:
        replies = await asyncio.gather(
            *(one(client, m) for m in prompts for _ in range(k)), return_exceptions=True
        )
    bar.close()
    failed = [r for r in replies if isinstance(r, BaseException)]
    for exc in failed:
        if not isinstance(exc, LLMError):
            raise exc
    if failed:
        raise PreviewError(
            f"the policy endpoint {policy.describe()} failed on {len(failed)} of {len(replies)} "
            f"completions; the first: {failed[0]} Nothing was scored; check the endpoint (it "
            "must serve the base model) and try again."
        )
    texts = [str(r) for r in replies]
    return [texts[i * k : (i + 1) * k] for i in range(len(prompts))]


def _sample(engine: Engine, snapshot_id: int, settings: PreviewSettings) -> list[SnapshotRow]:
    """The sampled rows, in snapshot order."""
    rows = load_snapshot_rows(engine, snapshot_id)
    if not rows:
        raise PreviewError(f"snapshot {snapshot_id} has no prompts to preview")
    picked = random.Random(settings.seed).sample(range(len(rows)), min(settings.prompts, len(rows)))
    return [rows[p] for p in sorted(picked)]


async def _preview(
    engine: Engine,
    snapshot_id: int,
    cfg: JobConfig,
    policy: EndpointConfig,
    settings: PreviewSettings,
    progress: bool,
) -> RewardPreview:
    k = settings.k or cfg.num_generations
    rows = await asyncio.to_thread(_sample, engine, snapshot_id, settings)
    completions = await _generate(
        policy, [r.chat() for r in rows], k, settings.concurrency, progress
    )
    spec = cfg.judge
    judge = Judge(spec.judge_config(), engine=engine)  # as trainer.run.build_judge
    items = [
        JudgeItem(
            prompt=prompt_text(row.chat()),
            response=text,
            criteria=row.criteria(),
            reference_answer=row.reference_answer,
        )
        for row, texts in zip(rows, completions, strict=True)
        for text in texts
    ]
    results = await judge.judge_many(items, progress=progress)
    counts: CategoryCounts = {}
    sample_config = spec.sample_judge_config()
    if sample_config is not None:
        counts, rated = await sample_pass_counts(
            Judge(sample_config, engine=engine), items, spec.category_sample
        )
    elif spec.rule.judges_prompt_criteria:
        per_item = [result_counts(i, r) for i, r in zip(items, results, strict=True)]
        for found in per_item:
            add_counts(counts, found)
        rated = sum(bool(found) for found in per_item)
    else:
        rated = 0
    groups = []
    for n, (row, texts) in enumerate(zip(rows, completions, strict=True)):
        scored = results[n * k : (n + 1) * k]
        rewards = tuple(r.reward_or(spec.fallback_reward) for r in scored)
        groups.append(
            GroupPreview(
                prompt_id=row.prompt_id,
                uid=row.uid,
                dataset=row.dataset,
                question=row.question[:QUESTION_PREVIEW],
                criteria=len(row.rubric),
                rewards=rewards,
                mean=statistics.fmean(rewards),
                std=statistics.stdev(rewards),
                zero_spread=max(rewards) - min(rewards) <= ZERO_SPREAD_TOL,
                judge_failures=sum(not (r.ok and r.reward is not None) for r in scored),
                completions=tuple(texts),
            )
        )
    groups.sort(key=lambda g: (not g.zero_spread, g.std, g.prompt_id))
    return RewardPreview(
        snapshot_id=snapshot_id,
        judge_model=spec.model,
        judge_mode=spec.mode.value,
        template_hash=judge.template_hash,
        policy_model=policy.model,
        k=k,
        seed=settings.seed,
        groups=tuple(groups),
        preset=spec.preset.value,
        category_counts=counts,
        rated_completions=rated,
    )


def preview_rewards(
    engine: Engine,
    snapshot_id: int,
    config: JobConfig | Mapping[str, Any],
    policy: EndpointConfig,
    settings: PreviewSettings | None = None,
    *,
    progress: bool = False,
) -> RewardPreview:
    """Sample, score and summarise; see the module docstring. Raises JobConfigError,
    NotFoundError (snapshot), LLMConfigError (a key variable unset), PreviewError."""
    cfg = config if isinstance(config, JobConfig) else parse_job_config(dict(config))
    return asyncio.run(
        _preview(engine, snapshot_id, cfg, policy, settings or PreviewSettings(), progress)
    )
