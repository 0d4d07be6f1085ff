"""Set-based SQL that feeds the agreement statistics, and the dashboard's drill-down.

Two queries fetch everything a report needs, each one row per (human label,
judge run) pair: criterion labels paired with the judges' verdicts on the same
(response, criterion), and whole-response scores paired with the judges'
rewards. Both carry the category, criterion key, judge model and mode,
dataset, prompt and annotator, so every breakdown is a group-by in
`models.agreement.report` without another round trip. Failed verdicts
(ok=False) and skipped labels take no part.

The human side of an item is its adjudicated label when there is one, else
the majority of its annotators; a tie without adjudication leaves the item
out of judge-vs-human figures (counted as unresolved) but in alpha.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from rubricforge.models.accounts.orm import Role
from rubricforge.models.accounts.permissions import UserInfo
from rubricforge.models.agreement.items import ItemDetail, ItemKey, item_details
from rubricforge.models.agreement.memo import as_of_snapshot
from rubricforge.models.judging.orm import JudgeMode
from rubricforge.models.rubrics.orm import Category
from sqlalchemy import text
from sqlalchemy.orm import Session

MIN_LABELS = 10  # a criterion or prompt gets its own figures from this many labels on


@dataclass(frozen=True)
class AgreementFilters:
    """What to include; an empty tuple means no restriction."""

    dataset_ids: tuple[int, ...] = ()
    run_ids: tuple[int, ...] = ()
    judge_models: tuple[str, ...] = ()
    modes: tuple[JudgeMode, ...] = ()
    categories: tuple[Category, ...] = ()
    prompt_ids: tuple[int, ...] = ()
    criterion_ids: tuple[int, ...] = ()
    annotator_ids: tuple[int, ...] = ()  # adjudications are kept whoever made them
    queue_id: int | None = None  # items of one spot-check queue only

    def label_sql(self, *, criteria: bool = True) -> tuple[str, dict[str, Any]]:
        """AND-clauses on the labels (aliases hl, c, p) and their parameters."""
        clauses, params = _Clauses(), dict[str, Any]()
        clauses.add(params, self.dataset_ids, "dataset_ids", "p.dataset_id = ANY(:dataset_ids)")
        clauses.add(params, self.prompt_ids, "prompt_ids", "p.id = ANY(:prompt_ids)")
        clauses.add(
            params,
            self.annotator_ids,
            "annotator_ids",
            "(hl.annotator_id = ANY(:annotator_ids) OR hl.is_adjudication)",
        )
        if criteria:
            clauses.add(params, self.categories, "categories", "c.category = ANY(:categories)")
            clauses.add(
                params, self.criterion_ids, "criterion_ids", "hl.criterion_id = ANY(:criterion_ids)"
            )
        if self.queue_id is not None:
            clauses.append(
                "EXISTS (SELECT 1 FROM spotcheck_items i WHERE i.queue_id = :queue_id "
                "AND i.response_id = hl.response_id "
                "AND i.criterion_id IS NOT DISTINCT FROM hl.criterion_id)"
            )
            params["queue_id"] = self.queue_id
        return clauses.sql(), params

    def run_sql(self) -> tuple[str, dict[str, Any]]:
        """AND-clauses on the judge runs (alias r) and their parameters."""
        clauses, params = _Clauses(), dict[str, Any]()
        clauses.add(params, self.run_ids, "run_ids", "r.id = ANY(:run_ids)")
        clauses.add(params, self.judge_models, "judge_models", "r.model = ANY(:judge_models)")
        clauses.add(params, self.modes, "modes", "r.mode = ANY(:modes)")
        return clauses.sql(), params


class _Clauses(list[str]):
    def add(self, params: dict[str, Any], values: tuple[Any, ...], name: str, clause: str) -> None:
        if values:
            self.append(clause)
            params[name] = [v.value if hasattr(v, "value") else v for v in values]

    def sql(self) -> str:
        return "".join(f"\n  AND {c}" for c in self)


# Rows carry ids only; names come from small lookups (`_names`), which keeps the
# transfer of tens of thousands of rows cheap.
_LABELS = """
SELECT hl.response_id, hl.criterion_id, hl.annotator_id, hl.met AS human_met,
       hl.is_adjudication, p.id AS prompt_id, p.dataset_id
FROM human_labels hl
JOIN criteria c ON c.id = hl.criterion_id
JOIN responses resp ON resp.id = hl.response_id
JOIN prompts p ON p.id = resp.prompt_id
WHERE hl.met IS NOT NULL{label_filters}"""

# Verdicts on the labelled items only, each item once however many labels it has: the
# items come from the labels already fetched. The LATERAL subquery probes the indexes
# (judgments by response, verdicts by criterion and judgment) once per item; OFFSET 0
# keeps the planner from flattening it into a join, which it would plan as a scan of
# every verdict (a million rows at RaR scale) for the few thousand items labelled.
_VERDICTS = """
SELECT i.response_id, i.criterion_id, x.run_id, x.judge_met
FROM unnest(CAST(:response_ids AS integer[]), CAST(:criterion_ids AS integer[]))
     AS i(response_id, criterion_id)
CROSS JOIN LATERAL (
    SELECT j.run_id, v.met AS judge_met
    FROM judgments j
    JOIN judge_runs r ON r.id = j.run_id
    JOIN verdicts v ON v.judgment_id = j.id AND v.criterion_id = i.criterion_id
    WHERE j.response_id = i.response_id AND v.ok AND v.met IS NOT NULL{run_filters}
    OFFSET 0
) x"""

_RESPONSE_PAIRS = """
SELECT hl.response_id, hl.annotator_id, hl.score AS human_score, hl.is_adjudication,
       j.run_id, j.reward AS judge_reward, p.id AS prompt_id, p.dataset_id
FROM human_labels hl
JOIN responses resp ON resp.id = hl.response_id
JOIN prompts p ON p.id = resp.prompt_id
JOIN judgments j ON j.response_id = hl.response_id
JOIN judge_runs r ON r.id = j.run_id
WHERE hl.criterion_id IS NULL AND hl.score IS NOT NULL AND j.ok AND j.reward IS NOT NULL
  {label_filters}{run_filters}"""

_NAMES = {
    "annotator_id": "SELECT id, username AS annotator FROM users WHERE id = ANY(:ids)",
    "run_id": "SELECT id, model AS judge_model, mode AS judge_mode FROM judge_runs "
    "WHERE id = ANY(:ids)",
    "dataset_id": "SELECT id, name AS dataset FROM datasets WHERE id = ANY(:ids)",
    "criterion_id": "SELECT id, category, key AS criterion_key, title AS criterion_title, "
    "md5(key || chr(31) || title || chr(31) || description) AS criterion_text "
    "FROM criteria WHERE id = ANY(:ids)",
}


def read_frame(session: Session, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    """The query's rows as a DataFrame of column lists.

    Rows come straight off the DB-API cursor as plain tuples (psycopg has the whole
    result in memory once the statement ran). A report reads tens of thousands of
    rows: as Row objects they cost about a quarter more time, much of it in the
    garbage collector, which tracks every Row but drops a tuple of numbers at once."""
    result = session.connection().execute(text(sql), params)
    keys = list(result.keys())
    rows = result.cursor.fetchall()
    result.close()
    columns = zip(*rows, strict=True) if rows else ([] for _ in keys)
    return pd.DataFrame(dict(zip(keys, map(list, columns), strict=True)), columns=keys)


def _named(session: Session, frame: pd.DataFrame, *id_columns: str) -> pd.DataFrame:
    """The frame with the names behind its id columns joined on."""
    for column in id_columns:
        ids = [int(i) for i in frame[column].unique()]
        names = read_frame(session, _NAMES[column], {"ids": ids}).rename(columns={"id": column})
        frame = frame.merge(names, on=column, how="left")
    return frame


def criterion_pairs(session: Session, filters: AgreementFilters) -> pd.DataFrame:
    """One row per (criterion label, judge run that judged the same pair), with the
    annotator, judge model and mode, category, criterion key and dataset. Read again
    only when the database changed (`memo.as_of_snapshot`)."""
    return as_of_snapshot(
        session, ("criterion_pairs", filters), lambda: _criterion_pairs(session, filters)
    )


def pairs_or_read(
    session: Session, filters: AgreementFilters | None, pairs: pd.DataFrame | None
) -> pd.DataFrame:
    """`pairs` when the caller has read criterion_pairs(session, filters) already (a page
    that shows several figures from them), else that read."""
    return pairs if pairs is not None else criterion_pairs(session, filters or AgreementFilters())


def _criterion_pairs(session: Session, filters: AgreementFilters) -> pd.DataFrame:
    label_where, label_params = filters.label_sql()
    run_where, run_params = filters.run_sql()
    labels = read_frame(session, _LABELS.format(label_filters=label_where), label_params)
    items = labels[["response_id", "criterion_id"]].drop_duplicates()
    verdicts = read_frame(
        session,
        _VERDICTS.format(run_filters=run_where),
        {
            "response_ids": items.response_id.tolist(),
            "criterion_ids": items.criterion_id.tolist(),
            **run_params,
        },
    )
    pairs = labels.merge(verdicts, on=["response_id", "criterion_id"])
    return _named(session, pairs, "annotator_id", "run_id", "dataset_id", "criterion_id")


def response_pairs(session: Session, filters: AgreementFilters) -> pd.DataFrame:
    """One row per (whole-response score, judge run that judged the response); read
    again only when the database changed."""
    return as_of_snapshot(
        session, ("response_pairs", filters), lambda: _response_pairs(session, filters)
    )


def _response_pairs(session: Session, filters: AgreementFilters) -> pd.DataFrame:
    label_where, label_params = filters.label_sql(criteria=False)
    run_where, run_params = filters.run_sql()
    sql = _RESPONSE_PAIRS.format(label_filters=label_where, run_filters=run_where)
    pairs = read_frame(session, sql, {**label_params, **run_params})
    return _named(session, pairs, "annotator_id", "run_id", "dataset_id")


# The human side of each (response, criterion) item: adjudicated, else majority.
_CONSENSUS = """
WITH lab AS (
    SELECT hl.response_id, hl.criterion_id,
           bool_or(hl.met) FILTER (WHERE hl.is_adjudication) AS adjudicated,
           count(*) FILTER (WHERE NOT hl.is_adjudication AND hl.met) AS n_met,
           count(*) FILTER (WHERE NOT hl.is_adjudication AND NOT hl.met) AS n_not
    FROM human_labels hl
    JOIN criteria c ON c.id = hl.criterion_id
    JOIN responses resp ON resp.id = hl.response_id
    JOIN prompts p ON p.id = resp.prompt_id
    WHERE hl.met IS NOT NULL {label_filters}
    GROUP BY hl.response_id, hl.criterion_id
), cons AS (
    SELECT response_id, criterion_id,
           coalesce(adjudicated, CASE WHEN n_met > n_not THEN true
                                      WHEN n_met < n_not THEN false END) AS human_met
    FROM lab
)
"""

_DISAGREEING = (
    _CONSENSUS
    + """
SELECT cons.response_id, cons.criterion_id, count(*) OVER () AS total
FROM cons
CROSS JOIN LATERAL (  -- per item, the first disagreeing verdict, through the indexes
    SELECT 1
    FROM judgments j
    JOIN judge_runs r ON r.id = j.run_id
    JOIN verdicts v ON v.judgment_id = j.id AND v.criterion_id = cons.criterion_id
    WHERE j.response_id = cons.response_id AND v.ok AND v.met <> cons.human_met {run_filters}
    LIMIT 1
) disagreeing
ORDER BY cons.criterion_id, cons.response_id
LIMIT :limit OFFSET :offset
"""
)


@dataclass(frozen=True)
class DisagreementPage:
    total: int  # disagreeing items in all, for paging
    items: list[ItemDetail]  # prompt, response, criterion, labels, verdicts, rationales


def disagreement_keys(
    session: Session,
    filters: AgreementFilters,
    *,
    limit: int,
    offset: int = 0,
    viewer_id: int | None = None,
) -> tuple[int, list[ItemKey]]:
    """(total, page of items) where a judge's verdict differs from the humans' label."""
    label_where, params = filters.label_sql()
    run_where, run_params = filters.run_sql()
    if viewer_id is not None:
        # Only the viewer's own items, chosen before the consensus and the verdict
        # probes (not after them): an annotator's drill-down reads their few hundred
        # items, not every labelled one. Every label of those items still counts.
        label_where += (
            "\n  AND EXISTS (SELECT 1 FROM human_labels mine WHERE mine.annotator_id = :viewer "
            "AND mine.response_id = hl.response_id AND mine.criterion_id = hl.criterion_id)"
        )
        params["viewer"] = viewer_id
    sql = _DISAGREEING.format(label_filters=label_where, run_filters=run_where)
    params = {**params, **run_params}
    rows = session.execute(text(sql), {**params, "limit": limit, "offset": offset}).all()
    if rows:
        total = rows[0].total
    elif offset > 0:  # a page past the end still reports how many there are
        first = session.execute(text(sql), {**params, "limit": 1, "offset": 0}).first()
        total = first.total if first else 0
    else:
        total = 0
    return total, [(r.response_id, r.criterion_id) for r in rows]


def disagreements(
    session: Session,
    viewer: UserInfo,
    *,
    filters: AgreementFilters | None = None,
    limit: int = 50,
    offset: int = 0,
) -> DisagreementPage:
    """Drill-down: the items where judge and humans disagree, with everything about them.

    An annotator sees only items they labelled themselves, so the dashboard
    cannot show them a verdict before they give their own label."""
    blind = viewer.role is Role.annotator
    total, keys = disagreement_keys(
        session,
        filters or AgreementFilters(),
        limit=limit,
        offset=offset,
        viewer_id=(viewer.id if viewer.id is not None else -1) if blind else None,
    )
    return DisagreementPage(total=total, items=item_details(session, keys))
