"""The Training page's drift monitor and reward-function charts, under AppTest against
a real Postgres: metric rows as the worker writes them, the curves' data, and the
divergence flag in plain words. Plus the pure chart-data functions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rubricforge.models.training.divergence import FREE_KEY, RUBRIC_KEY
from rubricforge.models.training.orm import TrainingMetric
from rubricforge.webapp.components.training_charts import monitor_frame, reward_parts_frame
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest
from training_support import seed_snapshot, submit
from webapp_support import add_account, app_as, shown

pytestmark = pytest.mark.db

PAGE = "views/training.py"
REASON = "monitor chart test: no spot-checks"


def write(engine: Engine, job_id: int, rows: list[dict[str, float]]) -> None:
    with Session(engine) as s, s.begin():
        for step, values in enumerate(rows, start=1):
            s.add(TrainingMetric(job_id=job_id, step=step, values=values))


def charts(at: AppTest) -> dict[str, dict[str, Any]]:
    """Plotly charts by title (the main curves have none)."""
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    return {s["layout"].get("title", {}).get("text", "curves"): s for s in specs}


def monitored(rubric: list[float], free: list[float]) -> list[dict[str, float]]:
    """Two steps per monitor point; the monitor ran on the even ones."""
    rows: list[dict[str, float]] = []
    for step in range(1, 2 * len(rubric) + 1):
        row = {"reward": 0.1 * step, "rewards/rubric_reward/mean": 0.1 * step}
        row["rewards/choice_reward/mean"] = 0.5
        if step % 2 == 0:
            row.update({RUBRIC_KEY: rubric[step // 2 - 1], FREE_KEY: free[step // 2 - 1]})
        rows.append(row)
    return rows


def test_a_diverging_run_is_flagged_with_both_curves(app_db: str, engine: Engine) -> None:
    world = seed_snapshot(engine, prompts=2, criteria=4)
    job_id = submit(engine, world, reason=REASON)
    # Rubric reward +0.1 per point over steps 2-8 (+0.3 fitted); rubric-free falling:
    # slope -0.2 / 20 = -0.01 per step, -0.06 over the 6 steps.
    write(engine, job_id, monitored([0.3, 0.4, 0.5, 0.6], [0.6, 0.6, 0.55, 0.55]))
    at = app_as(add_account(app_db, "rita", "researcher"), PAGE)
    assert not at.exception, at.exception
    found = charts(at)
    monitor = found["Drift monitor: rubric reward vs rubric-free score (same sample)"]
    traces = {t["name"]: t for t in monitor["data"]}
    assert traces["rubric reward"]["x"] == [2, 4, 6, 8]
    assert traces["rubric reward"]["y"] == pytest.approx([0.3, 0.4, 0.5, 0.6])
    assert traces["rubric-free score"]["y"] == pytest.approx([0.6, 0.6, 0.55, 0.55])
    parts = {t["name"]: t for t in found["Reward functions (means)"]["data"]}
    assert set(parts) == {"rubric_reward", "choice_reward"}
    assert parts["choice_reward"]["y"] == [0.5] * 8
    assert shown(at, "warning", "Diverging: over steps 2-8 the rubric reward changed by +0.300")
    assert shown(at, "warning", "the rubric-free score by -0.060")
    assert shown(at, "caption", "Rule: over the last 6 monitored steps")


def test_a_healthy_run_says_so_and_a_run_without_monitor_shows_no_monitor(
    app_db: str, engine: Engine
) -> None:
    world = seed_snapshot(engine, prompts=2, criteria=4)
    plain = submit(engine, world, reason=REASON)
    write(engine, plain, [{"reward": 0.1, "rewards/rubric_reward/mean": 0.1}] * 3)
    healthy = submit(engine, world, reason=REASON, max_steps=8)  # another config: another job
    write(engine, healthy, monitored([0.3, 0.35, 0.4, 0.45], [0.3, 0.35, 0.4, 0.45]))
    early = submit(engine, world, reason=REASON, max_steps=6)
    write(engine, early, monitored([0.3, 0.5, 0.7], [0.5, 0.5, 0.5]))
    at = app_as(add_account(app_db, "rita", "researcher"), PAGE)
    # The newest job is shown first: three monitored steps are too few to judge.
    assert shown(at, "caption", "Not enough monitored steps yet: 3 of the 4 the trend needs.")
    assert not shown(at, "warning", "Diverging")
    at.selectbox[0].set_value(healthy).run()
    assert shown(at, "caption", "No divergence: over steps 2-8 the rubric reward changed by +0.150")
    assert not shown(at, "warning", "Diverging")
    at = app_as(add_account(app_db, "ruth", "researcher"), PAGE)  # one switch per session
    at.selectbox[0].set_value(plain).run()
    assert at.subheader[0].value == f"Job {plain}: queued"
    assert list(charts(at)) == ["curves"]  # one reward function, no monitor


def test_chart_frames() -> None:
    metrics = [
        (1, {"reward": 0.2, "rewards/rubric_reward/mean": 0.2}),
        (2, {RUBRIC_KEY: 0.3, FREE_KEY: 0.4, "rewards/rubric_reward/mean": 0.25}),
    ]
    frame = monitor_frame(metrics)
    assert frame.index.to_list() == [2]
    assert frame.to_dict("list") == {"rubric reward": [0.3], "rubric-free score": [0.4]}
    assert reward_parts_frame(metrics).empty  # only the rubric reward: nothing to split
    mixed = [(1, {"rewards/rubric_reward/mean": 0.2, "rewards/regex_reward/mean": 1.0})]
    assert reward_parts_frame(mixed).to_dict("list") == {
        "rubric_reward": [0.2],
        "regex_reward": [1.0],
    }
    assert monitor_frame([]).empty and reward_parts_frame([]).empty
