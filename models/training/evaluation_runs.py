"""Eval runs as the page and the CLI read them, and the inputs of an evaluation that
come from a training job: its judge and its output folder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from rubricforge.models.core.errors import NotFoundError
from rubricforge.models.training.config import JobConfigError, JudgeSpec
from rubricforge.models.training.orm import EvalRun, EvalScore, TrainingJob
from sqlalchemy import select
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class EvalRunInfo:
    id: int
    job_id: int | None
    policy_label: str
    policy_kind: str
    policy_source: str
    snapshot_id: int
    snapshot_sha256: str
    judge: dict[str, Any]
    rubric_mean: float | None
    likert_mean: float | None
    category_rates: dict[str, float]
    n: int
    rubric_failures: int
    likert_failures: int
    created_at: datetime


@dataclass(frozen=True)
class EvalScoreInfo:
    position: int
    prompt_id: int | None
    uid: str
    completion: str
    rubric_reward: float | None
    likert_reward: float | None
    error: str | None


def _info(run: EvalRun) -> EvalRunInfo:
    return EvalRunInfo(
        id=run.id,
        job_id=run.job_id,
        policy_label=run.policy_label,
        policy_kind=run.policy_kind,
        policy_source=run.policy_source,
        snapshot_id=run.snapshot_id,
        snapshot_sha256=run.snapshot_sha256,
        judge=run.judge,
        rubric_mean=run.rubric_mean,
        likert_mean=run.likert_mean,
        category_rates=run.category_rates,
        n=run.n,
        rubric_failures=run.rubric_failures,
        likert_failures=run.likert_failures,
        created_at=run.created_at,
    )


def list_eval_runs(session: Session, *, limit: int = 200) -> list[EvalRunInfo]:
    """Newest first."""
    runs = session.scalars(select(EvalRun).order_by(EvalRun.id.desc()).limit(limit))
    return [_info(r) for r in runs]


def get_eval_run(session: Session, run_id: int) -> tuple[EvalRunInfo, list[EvalScoreInfo]]:
    run = session.get(EvalRun, run_id)
    if run is None:
        raise NotFoundError(f"eval run {run_id} does not exist")
    scores = session.scalars(
        select(EvalScore).where(EvalScore.run_id == run_id).order_by(EvalScore.position)
    )
    return _info(run), [
        EvalScoreInfo(
            s.position, s.prompt_id, s.uid, s.completion, s.rubric_reward, s.likert_reward, s.error
        )
        for s in scores
    ]


def judge_spec(data: Mapping[str, Any]) -> JudgeSpec:
    """A judge spec from settings (a job config's judge, a file, --set overrides);
    JobConfigError lists every problem by field."""
    try:
        return JudgeSpec.model_validate(dict(data))
    except ValidationError as exc:
        raise JobConfigError(
            [
                (
                    "judge." + ".".join(str(p) for p in err["loc"]),
                    err["msg"].removeprefix("Value error, "),
                )
                for err in exc.errors()
            ]
        ) from None


@dataclass(frozen=True)
class JobInputs:
    judge: dict[str, Any]  # the job's judge settings
    output_uri: str | None  # its output folder; None until it finished
    snapshot_id: int  # the snapshot it trained on (so not held out)


def job_inputs(session: Session, job_id: int) -> JobInputs:
    """What an evaluation of a training job starts from."""
    job = session.get(TrainingJob, job_id)
    if job is None:
        raise NotFoundError(f"training job {job_id} does not exist. Nothing was evaluated.")
    return JobInputs(dict(job.config.get("judge") or {}), job.output_uri, job.snapshot_id)
