"""Drawing spot-check samples: which items annotators are asked about, in what order.

One INSERT ... SELECT per queue, so a sample over a million verdicts never
leaves Postgres. The order is a hash of the seed and the item ids, so the same
seed over the same data draws the same sample.

- uniform: every judged item equally likely.
- stratified: round-robin over the strata (category, judge model or dataset),
  each stratum in seeded random order, so the first k*s items hold k from each
  of the s strata. Equal allocation covers small strata (a rare category still
  gets labels) at the price that the pooled figures over-weight them: read
  stratified samples per stratum.
- disagreement_first: items the judges disagree about come first (two judges'
  verdicts on the criterion differ, or the response's rewards from two runs,
  e.g. explicit vs implicit, differ by more than `reward_gap`), then the rest
  in seeded random order. Such a sample over-states disagreement on purpose:
  it finds bad criteria fast, but agreement figures should come from uniform or
  stratified queues (filter the dashboard by queue).
"""

from __future__ import annotations

from typing import Any, Self, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from rubricforge.models.agreement.orm import ItemUnit, SamplingStrategy, Stratum
from sqlalchemy import CursorResult, text
from sqlalchemy.orm import Session


class QueueSpec(BaseModel):
    """How to draw a spot-check queue."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    unit: ItemUnit = ItemUnit.criterion
    strategy: SamplingStrategy = SamplingStrategy.uniform
    stratify_by: Stratum | None = None
    size: int = Field(default=200, ge=1, le=100_000, description="items to draw")
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    labels_per_item: int = Field(
        default=1, ge=1, le=20, description="annotators per item (2+ for agreement between them)"
    )
    run_ids: tuple[int, ...] = Field(default=(), description="judge runs to draw from; () = all")
    dataset_ids: tuple[int, ...] = Field(default=(), description="datasets; () = all")
    reward_gap: float = Field(
        default=0.3, gt=0, le=1, description="disagreement-first: reward difference that counts"
    )

    @field_validator("name")
    @classmethod
    def _strip(cls, name: str) -> str:
        if not name.strip():
            raise ValueError("name must not be blank")
        return name.strip()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        stratified = self.strategy is SamplingStrategy.stratified
        if stratified and self.stratify_by is None:
            raise ValueError(
                "a stratified queue needs stratify_by (category, judge_model, dataset)"
            )
        if not stratified and self.stratify_by is not None:
            raise ValueError("stratify_by only applies to the stratified strategy")
        if self.unit is ItemUnit.response and self.stratify_by is Stratum.category:
            raise ValueError(
                "whole responses have no category: stratify them by judge_model or dataset"
            )
        return self


_STRATUM_SQL = {
    None: "''",
    Stratum.category: "c.category",
    Stratum.judge_model: "r.model",
    Stratum.dataset: "d.name",
}

_POOL = {
    ItemUnit.criterion: """
    SELECT j.response_id, v.criterion_id, v.met, j.reward, {stratum} AS stratum
    FROM verdicts v
    JOIN judgments j ON j.id = v.judgment_id
    JOIN judge_runs r ON r.id = j.run_id
    JOIN criteria c ON c.id = v.criterion_id
    JOIN responses resp ON resp.id = j.response_id
    JOIN prompts p ON p.id = resp.prompt_id
    JOIN datasets d ON d.id = p.dataset_id
    WHERE v.ok AND v.met IS NOT NULL {filters}""",
    ItemUnit.response: """
    SELECT j.response_id, NULL::int AS criterion_id, NULL::boolean AS met, j.reward,
           {stratum} AS stratum
    FROM judgments j
    JOIN judge_runs r ON r.id = j.run_id
    JOIN responses resp ON resp.id = j.response_id
    JOIN prompts p ON p.id = resp.prompt_id
    JOIN datasets d ON d.id = p.dataset_id
    WHERE j.ok {filters}""",
}

_HASH = "md5(concat(CAST(:seed AS text), ':', response_id, ':', criterion_id))"

_STRATIFIED = f"""
WITH pool AS ({{pool}}),
cand AS (SELECT DISTINCT response_id, criterion_id, stratum FROM pool),
ranked AS (
    SELECT response_id, criterion_id, stratum,
           row_number() OVER (PARTITION BY stratum ORDER BY {_HASH}) AS rn,
           md5(concat(CAST(:seed AS text), ':', stratum)) AS turn
    FROM cand
),
best AS (  -- an item in two strata (judged by two models) keeps its earlier place
    SELECT DISTINCT ON (response_id, criterion_id) *
    FROM ranked ORDER BY response_id, criterion_id, rn, turn
),
chosen AS (SELECT * FROM best ORDER BY rn, turn LIMIT :size)
INSERT INTO spotcheck_items (queue_id, position, response_id, criterion_id, stratum, reason)
SELECT :queue_id, row_number() OVER (ORDER BY rn, turn), response_id, criterion_id, stratum, ''
FROM chosen
"""

_DISAGREEMENT_FIRST = f"""
WITH pool AS ({{pool}}),
reward_gaps AS (  -- every run's reward for the pool's responses, explicit and implicit
    SELECT j.response_id, max(j.reward) - min(j.reward) AS gap
    FROM judgments j
    JOIN judge_runs r ON r.id = j.run_id
    WHERE j.ok AND j.reward IS NOT NULL AND j.response_id IN (SELECT response_id FROM pool)
      {{run_filter}}
    GROUP BY j.response_id
),
cand AS (
    SELECT pool.response_id, pool.criterion_id,
           coalesce(bool_or(pool.met) <> bool_and(pool.met), false) AS split,
           coalesce(max(g.gap), 0) AS gap
    FROM pool LEFT JOIN reward_gaps g ON g.response_id = pool.response_id
    GROUP BY pool.response_id, pool.criterion_id
),
scored AS (
    SELECT *, (split OR gap > :reward_gap) AS disagree, {_HASH} AS h FROM cand
),
chosen AS (SELECT * FROM scored ORDER BY disagree DESC, h LIMIT :size)
INSERT INTO spotcheck_items (queue_id, position, response_id, criterion_id, stratum, reason)
SELECT :queue_id, row_number() OVER (ORDER BY disagree DESC, h), response_id, criterion_id,
       CASE WHEN disagree THEN 'disagree' ELSE 'rest' END,
       concat_ws('; ',
           CASE WHEN split THEN 'judges split on this criterion' END,
           CASE WHEN gap > :reward_gap
                THEN 'rewards of two runs differ by ' || round(gap::numeric, 2) END)
FROM chosen
"""


def draw(session: Session, queue_id: int, spec: QueueSpec) -> int:
    """Insert the queue's items; returns how many were drawn (0: nothing matched)."""
    run_filter = "AND r.id = ANY(:run_ids)" if spec.run_ids else ""
    filters = run_filter + (" AND p.dataset_id = ANY(:dataset_ids)" if spec.dataset_ids else "")
    pool = _POOL[spec.unit].format(stratum=_STRATUM_SQL[spec.stratify_by], filters=filters)
    if spec.strategy is SamplingStrategy.disagreement_first:
        sql = _DISAGREEMENT_FIRST.format(pool=pool, run_filter=run_filter)
    else:
        sql = _STRATIFIED.format(pool=pool)
    params: dict[str, Any] = {
        "queue_id": queue_id,
        "seed": spec.seed,
        "size": spec.size,
        "reward_gap": spec.reward_gap,
        "run_ids": list(spec.run_ids),
        "dataset_ids": list(spec.dataset_ids),
    }
    used = {k: v for k, v in params.items() if f":{k}" in sql}
    result = cast(CursorResult[Any], session.execute(text(sql), used))
    return result.rowcount
