"""Judge leaderboard: every judge model x mode that was run, on the same human
labels, ranked by agreement with the humans and shown with its tokens and cost,
so a team can pick the cheapest judge that agrees.

The figures, and why:
- `criterion_kappa` (explicit judges only): Cohen's kappa of the judge's
  per-criterion verdicts against the items' human labels (adjudicated, else
  majority). Implicit and Likert judges give no per-criterion verdict.
- `response_kappa` (every mode, the default ranking): the judge's reward
  (explicit reward, or (rating - 1) / 9) and the humans' whole-response score
  mapped the same way, both called "good" at `threshold`; the one kappa every
  mode shares, so explicit, implicit and Likert rank on one scale.
- `response_spearman` (every mode): Spearman's rho of reward vs human score.
Response-level figures come from whole-response labels (a spot-check queue
with unit "response"), not from criterion labels summed into a reward: a
sampled queue rarely labels every criterion of a response.

"On the same labels": with `same_items` (default) only items every compared
judge has judged count, so a judge is not ranked on easier items. A judge
"agrees" when its interval reaches the best judge's lower bound;
`cheapest_agreeing` is the cheapest of those (cost per 1,000 judgments, else
tokens per judgment where no cost is known).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, replace
from functools import cached_property, partial

import pandas as pd
from rubricforge.models.agreement.memo import frames_digest, memoized
from rubricforge.models.agreement.queries import AgreementFilters, pairs_or_read, response_pairs
from rubricforge.models.agreement.report import (
    ITEM,
    THRESHOLD,
    criterion_consensus,
    judge_name,
    score_consensus,
)
from rubricforge.models.agreement.stats import (
    N_BOOT,
    SEED,
    BinaryAgreement,
    Estimate,
    binary_agreement,
    spearman,
    undefined,
)
from rubricforge.models.judging.orm import JudgeMode
from sqlalchemy import text
from sqlalchemy.orm import Session


class RankBy(enum.StrEnum):
    response_kappa = "response_kappa"
    response_spearman = "response_spearman"
    criterion_kappa = "criterion_kappa"


@dataclass(frozen=True)
class JudgeCost:
    judge_model: str
    judge_mode: JudgeMode
    runs: int
    judgments: int
    tokens_in: int
    tokens_out: int
    cost_usd: float | None  # None when a run's cost is unknown (e.g. a local server)


@dataclass(frozen=True)
class LeaderboardRow:
    rank: int
    judge: str
    judge_model: str
    judge_mode: JudgeMode
    criterion_kappa: Estimate
    response_kappa: Estimate
    response_spearman: Estimate
    cost: JudgeCost
    agrees_with_best: bool

    @property
    def cost_per_1k(self) -> float | None:
        c = self.cost
        if c.cost_usd is None or c.judgments == 0:
            return None
        return 1000 * c.cost_usd / c.judgments

    @property
    def tokens_per_judgment(self) -> float | None:
        c = self.cost
        return (c.tokens_in + c.tokens_out) / c.judgments if c.judgments else None

    def figure(self, rank_by: RankBy) -> Estimate:
        return getattr(self, rank_by.value)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Leaderboard:
    rank_by: RankBy
    rows: tuple[LeaderboardRow, ...]
    n_items: int  # (response, criterion) items behind criterion_kappa
    n_responses: int  # responses behind the response-level figures
    cheapest_agreeing: LeaderboardRow | None


def rankings_with_data(board: Leaderboard) -> list[RankBy]:
    """The rankings for which at least one judge has a defined figure, in RankBy order:
    the page defaults to the first, so a fresh workspace never opens on an empty chart."""
    return [rb for rb in RankBy if any(r.figure(rb).defined for r in board.rows)]


_COSTS = """
SELECT r.model, r.mode, count(*) AS runs, sum(n.judgments) AS judgments,
       sum(r.tokens_in) AS tokens_in, sum(r.tokens_out) AS tokens_out,
       CASE WHEN bool_and(r.cost_usd IS NOT NULL) THEN sum(r.cost_usd) END AS cost_usd
FROM judge_runs r
CROSS JOIN LATERAL (SELECT count(*) AS judgments FROM judgments j WHERE j.run_id = r.id) n
WHERE true {filters}
GROUP BY r.model, r.mode
ORDER BY r.model, r.mode
"""


def judge_costs(session: Session, filters: AgreementFilters) -> list[JudgeCost]:
    """Tokens and cost per judge model x mode, summed over its runs."""
    where, params = filters.run_sql()
    return [
        JudgeCost(
            judge_model=model,
            judge_mode=JudgeMode(mode),
            runs=runs,
            judgments=int(judgments),
            tokens_in=int(tokens_in),
            tokens_out=int(tokens_out),
            cost_usd=float(cost) if cost is not None else None,
        )
        for model, mode, runs, judgments, tokens_in, tokens_out, cost in session.execute(
            text(_COSTS.format(filters=where)), params
        )
    ]


JudgeKey = tuple[str, str]
JUDGE = ["judge_model", "judge_mode"]


def _common(frame: pd.DataFrame, item: list[str]) -> pd.DataFrame:
    """Only the items every judge in the frame has judged."""
    judges = frame.groupby(JUDGE).ngroups
    counts = frame.groupby(item).judge_model.transform("size")  # one row per judge and item
    return frame[counts == judges]


def _criterion_kappas(
    pairs: pd.DataFrame, same_items: bool, stats: partial[BinaryAgreement]
) -> tuple[dict[JudgeKey, Estimate], int]:
    if pairs.empty:
        return {}, 0
    human, _ = criterion_consensus(pairs.drop_duplicates(ITEM + ["annotator_id"]))
    explicit = pairs[pairs.judge_mode == JudgeMode.explicit.value]
    verdicts = explicit.drop_duplicates(JUDGE + ITEM)[JUDGE + ITEM + ["judge_met"]].join(
        human.rename("human_met"), on=ITEM, how="inner"
    )
    if same_items:
        verdicts = _common(verdicts, ITEM)
    out = {
        key: stats(g.judge_met.tolist(), g.human_met.tolist()).kappa
        for key, g in verdicts.groupby(JUDGE)
    }
    return out, verdicts[ITEM].drop_duplicates().shape[0]


def _response_figures(
    pairs: pd.DataFrame,
    same_items: bool,
    threshold: float,
    stats: partial[BinaryAgreement],
    rho: partial[Estimate],
) -> tuple[dict[JudgeKey, tuple[Estimate, Estimate]], int]:
    if pairs.empty:
        return {}, 0
    human = score_consensus(pairs.drop_duplicates(["response_id", "annotator_id"]))
    judged = (
        pairs.groupby(JUDGE + ["response_id"], as_index=False)
        .judge_reward.mean()
        .join(human.rename("human_score"), on="response_id")
    )
    if same_items:
        judged = _common(judged, ["response_id"])
    out = {}
    for key, g in judged.groupby(JUDGE):
        good = ((g.human_score - 1) / 9 >= threshold).tolist()
        kappa = stats((g.judge_reward >= threshold).tolist(), good).kappa
        out[key] = (kappa, rho(g.judge_reward.tolist(), g.human_score.tolist()))
    return out, judged.response_id.nunique()


def _sort_key(row: LeaderboardRow, rank_by: RankBy) -> tuple[float, float, float]:
    value = row.figure(rank_by).value
    cost = row.cost_per_1k
    return (
        -value if not math.isnan(value) else math.inf,
        cost if cost is not None else math.inf,
        row.tokens_per_judgment or math.inf,
    )


def rank_judges(
    criterion_rows: pd.DataFrame,
    response_rows: pd.DataFrame,
    costs: list[JudgeCost],
    *,
    rank_by: RankBy = RankBy.response_kappa,
    threshold: float = THRESHOLD,
    same_items: bool = True,
    n_boot: int = N_BOOT,
    seed: int = SEED,
) -> Leaderboard:
    """The leaderboard from paired rows and costs (pure)."""
    stats = partial(binary_agreement, n_boot=n_boot, seed=seed)
    rho = partial(spearman, n_boot=n_boot, seed=seed)
    kappas, n_items = _criterion_kappas(criterion_rows, same_items, stats)
    responses, n_responses = _response_figures(response_rows, same_items, threshold, stats, rho)
    none = undefined(0, "no human label on an item this judge judged")
    not_explicit = undefined(0, "only explicit judges give per-criterion verdicts")
    rows = []
    for cost in costs:
        key = (cost.judge_model, cost.judge_mode.value)
        response_kappa, response_rho = responses.get(key, (none, none))
        rows.append(
            LeaderboardRow(
                rank=0,
                judge=judge_name(cost.judge_model, cost.judge_mode),
                judge_model=cost.judge_model,
                judge_mode=cost.judge_mode,
                criterion_kappa=kappas.get(key, none)
                if cost.judge_mode is JudgeMode.explicit
                else not_explicit,
                response_kappa=response_kappa,
                response_spearman=response_rho,
                cost=cost,
                agrees_with_best=False,
            )
        )
    rows.sort(key=lambda r: _sort_key(r, rank_by))
    best = rows[0].figure(rank_by) if rows else none
    ranked = tuple(
        replace(
            row,
            rank=i,
            agrees_with_best=best.defined and row.figure(rank_by).high >= best.low,
        )
        for i, row in enumerate(rows, start=1)
    )
    agreeing = [r for r in ranked if r.agrees_with_best]
    cheapest = min(agreeing, key=lambda r: _sort_key(r, rank_by)[1:]) if agreeing else None
    return Leaderboard(rank_by, ranked, n_items, n_responses, cheapest)


@dataclass(frozen=True)
class LeaderboardData:
    """What the leaderboard is computed from, read once: a page ranks it by the
    user's choice and by the default without reading the rows twice."""

    pairs: pd.DataFrame
    responses: pd.DataFrame
    costs: tuple[JudgeCost, ...]

    @cached_property
    def _digest(self) -> str:
        """The rows' digest, once per read (a page ranks them more than once)."""
        return frames_digest(self.pairs, self.responses)

    def rank(
        self,
        rank_by: RankBy = RankBy.response_kappa,
        *,
        threshold: float = THRESHOLD,
        same_items: bool = True,
        n_boot: int = N_BOOT,
        seed: int = SEED,
    ) -> Leaderboard:
        """rank_judges, skipped when the rows and the arguments are exactly those of a
        recent call (`models.agreement.memo`)."""
        return memoized(
            ("leaderboard", self._digest, self.costs, rank_by, threshold, same_items, n_boot, seed),
            lambda: rank_judges(
                self.pairs,
                self.responses,
                list(self.costs),
                rank_by=rank_by,
                threshold=threshold,
                same_items=same_items,
                n_boot=n_boot,
                seed=seed,
            ),
        )


def leaderboard_data(
    session: Session, filters: AgreementFilters | None = None, pairs: pd.DataFrame | None = None
) -> LeaderboardData:
    """The three reads behind the leaderboard. `pairs`: criterion_pairs(session,
    filters) when the caller has read them already."""
    filters = filters or AgreementFilters()
    return LeaderboardData(
        pairs_or_read(session, filters, pairs),
        response_pairs(session, filters),
        tuple(judge_costs(session, filters)),
    )


def leaderboard(
    session: Session,
    *,
    filters: AgreementFilters | None = None,
    rank_by: RankBy = RankBy.response_kappa,
    threshold: float = THRESHOLD,
    same_items: bool = True,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    pairs: pd.DataFrame | None = None,
) -> Leaderboard:
    """Every judge model x mode in the filtered runs, ranked (three queries, then pure
    code, memoized: `LeaderboardData.rank`). `pairs`: criterion_pairs(session,
    filters) when the caller has read them already."""
    return leaderboard_data(session, filters, pairs).rank(
        rank_by, threshold=threshold, same_items=same_items, n_boot=n_boot, seed=seed
    )
