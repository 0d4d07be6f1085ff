"""A worker training with what comes around the rubric reward: verifiable rewards as
weighted TRL reward functions and the rubric-free drift monitor, on the tiny model
(CPU) with the scripted judge over real HTTP (fixtures of test_trainer_run.py).

The scripted judge answers a rubric request with verdicts and a request without a
rubric (the monitor's Direct-Likert) with a rating of 1 + sha256(text)[0] % 10, so
the monitor's score of a step can be recomputed from the requests it sent.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import test_trainer_run as tr
from llm_server import Reply
from rubricforge.models.core.db import session_scope
from rubricforge.models.core.status import Status
from rubricforge.models.training.divergence import (
    FAILURES_KEY,
    FREE_KEY,
    RUBRIC_KEY,
    SAMPLES_KEY,
    monitor_points,
)
from rubricforge.models.training.jobs import job_metrics
from rubricforge.trainer.worker import Worker
from sqlalchemy import Engine
from test_trainer_run import PER_STEP, Judge, job, judge_reply, submit

# test_trainer_run's fixtures, here too (its autouse `runs` included).
tiny_model, runs, judge, snapshot_id = tr.tiny_model, tr.runs, tr.judge, tr.snapshot_id

pytestmark = [pytest.mark.db, pytest.mark.slow]


def is_rubric_free(body: dict[str, Any]) -> bool:
    return "RUBRIC (" not in body["messages"][1]["content"]


def likert_score(body: dict[str, Any]) -> float:
    rating = 1 + hashlib.sha256(body["messages"][1]["content"].encode()).digest()[0] % 10
    return (rating - 1) / 9


def test_verifiable_rewards_and_the_monitor_are_logged_next_to_the_rubric_reward(
    engine: Engine,
    snapshot_id: int,
    tiny_model: Path,
    judge: Judge,
) -> None:
    job_id = submit(
        engine, snapshot_id, "tiny", judge, None,
        monitor={"every_steps": 1, "sample_size": 2},
        verifiable_rewards=[
            # '^' is found in every completion: 1.0 each, so its mean is known.
            {"kind": "regex", "weight": 0.5, "options": {"pattern": "^"}},
            # One of the three RaR rows has a lettered reference answer (D).
            {"kind": "choice", "weight": 0.25, "options": {"letters": "ABCD"}},
        ],
    )  # fmt: skip
    assert Worker(engine, "w1", lease_seconds=60).run_once() is True
    row = job(engine, job_id)
    assert (row.status, row.error) == (Status.succeeded, None)

    with session_scope(engine) as s:
        metrics = job_metrics(s, job_id)
    assert [step for step, _ in metrics] == [1, 2, 3]
    likert = [r.body for r in judge.server.chat_requests if is_rubric_free(r.body)]
    assert len(likert) == 3 * 2  # two sampled completions per step, rubric-free
    assert judge.count == 3 * PER_STEP + len(likert)  # the rubric judge still saw every one
    for n, (_, values) in enumerate(metrics):
        rubric = values["rewards/rubric_reward/mean"]
        assert values["rewards/regex_reward/mean"] == 1.0
        choice = values["rewards/choice_reward/mean"]
        assert 0.0 <= choice <= 1.0
        assert 0.0 <= values["verifiable/choice_reward/unchecked_rate"] <= 1.0
        # TRL's reward is the weighted sum, the rubric reward weighing 1.
        assert values["reward"] == pytest.approx(rubric + 0.5 * 1.0 + 0.25 * choice, abs=1e-5)
        # The monitor: the mean of this step's two Likert scores, next to a rubric mean.
        assert (values[SAMPLES_KEY], values[FAILURES_KEY]) == (2.0, 0.0)
        step_scores = [likert_score(b) for b in likert[2 * n : 2 * n + 2]]
        assert values[FREE_KEY] == pytest.approx(sum(step_scores) / 2, abs=1e-6)
        assert -1.0 <= values[RUBRIC_KEY] <= 1.0
    assert [p[0] for p in monitor_points(metrics)] == [1, 2, 3]


def test_a_failing_monitor_never_fails_the_run(
    engine: Engine,
    snapshot_id: int,
    tiny_model: Path,
    judge: Judge,
) -> None:
    def reply(body: dict[str, Any]) -> Reply:
        return Reply.text("no rating here") if is_rubric_free(body) else judge_reply(body)

    judge.reply = reply
    job_id = submit(
        engine, snapshot_id, "tiny", judge, None,
        monitor={"every_steps": 2, "sample_size": 3}, max_steps=2,
        judge={**judge.spec(), "max_retries": 0},
    )  # fmt: skip
    assert Worker(engine, "w1", lease_seconds=60).run_once() is True
    assert job(engine, job_id).status is Status.succeeded
    with session_scope(engine) as s:
        first, second = (values for _, values in job_metrics(s, job_id))
    assert SAMPLES_KEY not in first  # step 1 is not monitored (every 2 steps)
    assert (second[SAMPLES_KEY], second[FAILURES_KEY]) == (3.0, 3.0)
    assert FREE_KEY not in second and RUBRIC_KEY not in second
    assert second["judge/failures"] == 0  # the rubric reward was unaffected
