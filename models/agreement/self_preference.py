"""Self-preference: does a judge pass its own family's failed answers more often?

Rubric judges mark their own (or a sibling model's) failed outputs as satisfied
more often than other models' (up to half again as often). On the human-labelled
(response, criterion) items, for each explicit judge model x mode:

    favourable = met        for a criterion whose weight is >= 0 (good when met)
               = not met    for a criterion whose weight is < 0 (a pitfall: bad when met)
    FP rate    = #(judge favourable and humans unfavourable) / #(humans unfavourable)

computed twice: on responses whose author model is of the judge's family
(`models.llm.family`), and on responses written by any other known model. Each
rate has a 95% Wilson interval (scipy's binomtest); the ratio own / other says how
much more often the judge lets its own family's failures through (> 1: self-
preference). Responses of unknown author take no part (counted). The human side
of an item is its adjudicated label, else its annotators' majority
(`criterion_consensus`); a judge's verdict is its newest run's.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from rubricforge.models.agreement.memo import as_of_snapshot, frames_digest, memoized
from rubricforge.models.agreement.queries import AgreementFilters, pairs_or_read, read_frame
from rubricforge.models.agreement.report import ITEM, criterion_consensus, judge_name
from rubricforge.models.agreement.stats import LEVEL
from rubricforge.models.judging.orm import JudgeMode
from rubricforge.models.llm.family import model_family
from scipy.stats import binomtest
from sqlalchemy.orm import Session

NAN = float("nan")


@dataclass(frozen=True)
class Rate:
    """errors / n with its Wilson interval; NaN when n is 0."""

    errors: int
    n: int
    low: float
    high: float

    @property
    def value(self) -> float:
        return self.errors / self.n if self.n else NAN

    def text(self) -> str:
        if not self.n:
            return "n/a (no failed item)"
        return f"{self.value:.2f} [{self.low:.2f}, {self.high:.2f}] ({self.errors}/{self.n})"


def wilson(errors: int, n: int, level: float = LEVEL) -> Rate:
    if n == 0:
        return Rate(0, 0, NAN, NAN)
    ci = binomtest(errors, n).proportion_ci(confidence_level=level, method="wilson")
    return Rate(errors, n, float(ci.low), float(ci.high))


@dataclass(frozen=True)
class SelfPreference:
    judge_model: str
    judge_mode: JudgeMode
    family: str | None  # the judge model's family; None: not a model name we know
    own: Rate  # on its own family's responses
    other: Rate  # on other families' responses
    unknown_author: int  # humans-unfavourable items left out: the author is unknown

    @property
    def judge(self) -> str:
        return judge_name(self.judge_model, self.judge_mode)

    @property
    def ratio(self) -> float | None:
        """own FP rate / other FP rate; None when either is undefined or other is 0."""
        if not self.own.n or not self.other.n or self.other.errors == 0:
            return None
        return self.own.value / self.other.value

    def summary(self) -> str:
        """One cell: "own 0.50 vs other 0.25 (x2.00)"."""
        if not self.own.n and not self.other.n:
            return "n/a"
        own = f"{self.own.value:.2f}" if self.own.n else "n/a"
        other = f"{self.other.value:.2f}" if self.other.n else "n/a"
        ratio = f" (x{self.ratio:.2f})" if self.ratio is not None else ""
        return f"own {own} vs other {other}{ratio}"


def favourable(met: pd.Series, weight: pd.Series) -> pd.Series:
    """The verdict that helps the response's reward: met, or not met for a pitfall."""
    return met.astype(bool) ^ (weight < 0)


def self_preference_table(pairs: pd.DataFrame, level: float = LEVEL) -> list[SelfPreference]:
    """From criterion pairs with `author_model` and `weight` columns (pure)."""
    if pairs.empty:
        return []
    explicit = pairs[pairs.judge_mode == JudgeMode.explicit.value]
    human, _ = criterion_consensus(pairs.drop_duplicates([*ITEM, "annotator_id"]))
    items = (
        pairs.drop_duplicates(ITEM)
        .set_index(ITEM)[["author_model", "weight"]]
        .join(human.rename("human_met"), how="inner")
    )
    items["human_ok"] = favourable(items.human_met, items.weight)
    failed = items[~items.human_ok]
    out = []
    for (model, mode), g in explicit.groupby(["judge_model", "judge_mode"]):
        family = model_family(model)
        newest = g.sort_values("run_id").drop_duplicates(ITEM, keep="last").set_index(ITEM)
        rows = failed.join(newest.judge_met, how="inner")
        passed = favourable(rows.judge_met, rows.weight)
        authors = rows.author_model.map(model_family)
        known = authors.notna()
        own = known & (authors == family) if family is not None else known & False
        other = known & ~own
        out.append(
            SelfPreference(
                judge_model=str(model),
                judge_mode=JudgeMode(mode),
                family=family,
                own=wilson(int((passed & own).sum()), int(own.sum()), level),
                other=wilson(int((passed & other).sum()), int(other.sum()), level),
                unknown_author=int((~known).sum()),
            )
        )
    return sorted(out, key=lambda r: (-(r.ratio or 0.0), r.judge))


_ITEM_FACTS = """
SELECT resp.id AS response_id, resp.author_model FROM responses resp
WHERE resp.id = ANY(:response_ids)"""
_WEIGHTS = "SELECT c.id AS criterion_id, c.weight FROM criteria c WHERE c.id = ANY(:criterion_ids)"


def self_preference(
    session: Session,
    *,
    filters: AgreementFilters | None = None,
    level: float = LEVEL,
    pairs: pd.DataFrame | None = None,
) -> list[SelfPreference]:
    """Each explicit judge's false-positive rate on its own family's responses vs others'.
    `pairs`: criterion_pairs(session, filters) when the caller has read them already
    (the pure part is memoized like the report: `models.agreement.memo`)."""
    pairs = pairs_or_read(session, filters, pairs)
    if pairs.empty:
        return []
    items = frames_digest(pairs[["response_id", "criterion_id"]])
    authors = as_of_snapshot(
        session,
        ("authors", items),
        lambda: read_frame(
            session, _ITEM_FACTS, {"response_ids": [int(i) for i in pairs.response_id.unique()]}
        ),
    )
    weights = as_of_snapshot(
        session,
        ("weights", items),
        lambda: read_frame(
            session, _WEIGHTS, {"criterion_ids": [int(i) for i in pairs.criterion_id.unique()]}
        ),
    )

    def compute() -> tuple[SelfPreference, ...]:
        frame = pairs.merge(authors, on="response_id").merge(weights, on="criterion_id")
        frame["weight"] = frame.weight.astype(float)
        return tuple(self_preference_table(frame, level))

    # Keyed on the three reads, merged only when computing: the merge of ~37,000
    # pairs and the digest of its result cost a rerun ~0.15 s.
    return list(
        memoized(("self_preference", frames_digest(pairs, authors, weights), level), compute)
    )


def by_judge(rows: list[SelfPreference]) -> dict[tuple[str, str], SelfPreference]:
    """Keyed like the leaderboard's rows: (judge model, mode value)."""
    return {(r.judge_model, r.judge_mode.value): r for r in rows}
