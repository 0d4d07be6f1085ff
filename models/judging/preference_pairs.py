"""Preference pairs from a frozen snapshot: the rubric-scored responses to its
prompts, paired chosen/rejected in TRL's DPO format (`models.data.pair_formats`).

Which scores count: judgments by an explicit or implicit judge (the rubric
judges; Likert baselines use no rubric) against the very rubric version the
snapshot froze, that succeeded and have a reward; per response the newest such
judgment, or, with `run_id`, that judge run's only. Responses the rubric check
stored (the reference, its degraded copies, the hacking probes) are left out:
they are test inputs, not answers to learn from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from rubricforge.models.accounts.permissions import Action, UserInfo, require
from rubricforge.models.core.db import session_scope
from rubricforge.models.core.errors import ExportError, NotFoundError
from rubricforge.models.data.export_formats import check_target, staging
from rubricforge.models.data.orm import SnapshotItem
from rubricforge.models.data.pair_formats import (
    PAIRS_FILE,
    RANKED_FILE,
    PairSet,
    ScoredPrompt,
    ScoredResponse,
    check_margin,
    pairs_jsonl,
    preference_pairs,
    ranked_jsonl,
)
from rubricforge.models.data.snapshot_rows import get_snapshot, read_rows, snapshot_items
from rubricforge.models.judging.orm import JudgeMode, JudgeRun, Judgment, Response
from sqlalchemy import Engine, Select, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Subquery

RUBRIC_MODES = (JudgeMode.explicit, JudgeMode.implicit)


@dataclass(frozen=True)
class ScoringRun:
    run_id: int
    model: str
    mode: JudgeMode
    responses: int

    def label(self) -> str:
        return f"run {self.run_id}: {self.model} ({self.mode.value}), {self.responses} responses"


_S = TypeVar("_S", bound=Select)  # type: ignore[type-arg]


def _in_snapshot(stmt: _S, snapshot_id: int) -> _S:
    """`stmt` (over Judgment and JudgeRun) narrowed to successful rubric judgments of
    responses to the snapshot's prompts, under the rubric versions it froze."""
    return (
        stmt.join(Response, Response.id == Judgment.response_id)
        .join(
            SnapshotItem,
            (SnapshotItem.prompt_id == Response.prompt_id)
            & (SnapshotItem.rubric_version_id == Judgment.rubric_version_id),
        )
        .where(
            SnapshotItem.snapshot_id == snapshot_id,
            Judgment.ok,
            Judgment.reward.is_not(None),
            JudgeRun.mode.in_(RUBRIC_MODES),
            ~Response.meta.has_key("rubric_check"),
        )
    )


def _scored(snapshot_id: int, run_id: int | None) -> Subquery:
    newest = _in_snapshot(
        select(Judgment.response_id, func.max(Judgment.id).label("judgment_id")).join(
            JudgeRun, JudgeRun.id == Judgment.run_id
        ),
        snapshot_id,
    ).group_by(Judgment.response_id)
    if run_id is not None:
        newest = newest.where(Judgment.run_id == run_id)
    return newest.subquery()


def scoring_runs(session: Session, snapshot_id: int) -> list[ScoringRun]:
    """The judge runs that scored responses to this snapshot's prompts with its rubrics."""
    scored = (
        _in_snapshot(
            select(JudgeRun.id, JudgeRun.model, JudgeRun.mode, func.count(Judgment.id)).join(
                Judgment, Judgment.run_id == JudgeRun.id
            ),
            snapshot_id,
        )
        .group_by(JudgeRun.id)
        .order_by(JudgeRun.id.desc())
    )
    return [ScoringRun(i, m, JudgeMode(mode), n) for i, m, mode, n in session.execute(scored)]


def scored_prompts(
    session: Session, snapshot_id: int, *, run_id: int | None = None
) -> list[ScoredPrompt]:
    """The snapshot's prompts (in snapshot order) with their rubric-scored responses."""
    get_snapshot(session, snapshot_id)
    if run_id is not None and session.get(JudgeRun, run_id) is None:
        raise NotFoundError(f"judge run {run_id} does not exist")
    newest = _scored(snapshot_id, run_id)
    rows = session.execute(
        select(
            Response.prompt_id,
            Response.id,
            Response.text,
            Judgment.reward,
            Response.source,
            Response.author_model,
        )
        .join(newest, newest.c.response_id == Response.id)
        .join(Judgment, Judgment.id == newest.c.judgment_id)
        .order_by(Response.prompt_id, Response.id)
    ).all()
    by_prompt: dict[int, list[ScoredResponse]] = {}
    for pid, rid, text, reward, source, author in rows:
        if reward is None:  # filtered out above; keeps the type exact
            continue
        by_prompt.setdefault(pid, []).append(ScoredResponse(rid, text, reward, source, author))
    return [
        ScoredPrompt(
            uid=row.uid,
            prompt=tuple((m.role, m.content) for m in row.messages),
            responses=tuple(by_prompt.get(row.prompt_id, ())),
        )
        for row in read_rows(session, snapshot_items(snapshot_id))
    ]


def snapshot_pairs(
    engine: Engine,
    snapshot_id: int,
    *,
    min_margin: float = 0.0,
    run_id: int | None = None,
    actor: UserInfo,
) -> PairSet:
    """The snapshot's preference pairs (reading only)."""
    require(actor, Action.export)
    min_margin = check_margin(min_margin)
    with session_scope(engine) as session:
        prompts = scored_prompts(session, snapshot_id, run_id=run_id)
    return preference_pairs(prompts, min_margin=min_margin)


def write_pairs(
    engine: Engine,
    snapshot_id: int,
    out_dir: Path,
    *,
    min_margin: float = 0.0,
    run_id: int | None = None,
    actor: UserInfo,
) -> tuple[PairSet, dict[str, Path]]:
    """Write dpo_pairs.jsonl and ranked.jsonl into out_dir (whole, or nothing)."""
    pair_set = snapshot_pairs(engine, snapshot_id, min_margin=min_margin, run_id=run_id,
                              actor=actor)  # fmt: skip
    out_dir = Path(out_dir)
    check_target(out_dir)
    others = sorted(p.name for p in out_dir.glob("*") if p.name not in (PAIRS_FILE, RANKED_FILE))
    if others:  # the folder is replaced whole: never a snapshot's files
        raise ExportError(
            f"{out_dir} holds other files ({', '.join(others[:5])}); give a new or empty "
            "folder for the pairs; nothing was written"
        )
    try:
        with staging(out_dir) as tmp:
            (tmp / PAIRS_FILE).write_bytes(pairs_jsonl(pair_set))
            (tmp / RANKED_FILE).write_bytes(ranked_jsonl(pair_set))
    except OSError as exc:
        raise ExportError(
            f"cannot write the pairs of snapshot {snapshot_id} to {out_dir}: "
            f"{exc.strerror or exc}; nothing was written"
        ) from None
    return pair_set, {"pairs": out_dir / PAIRS_FILE, "ranked": out_dir / RANKED_FILE}
