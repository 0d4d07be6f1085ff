"""Training page charts for what comes around the rubric reward: the drift monitor
(rubric reward and rubric-free score of the same sampled completions, with the
divergence flag of models/training/divergence.py) and, when a job mixes in
verifiable rewards, each reward function's mean. Chart data comes from pure
functions (`monitor_frame`, `reward_parts_frame`) so tests can check it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from rubricforge.models.training.divergence import (
    MAX_FREE_GAIN,
    MIN_RISE,
    WINDOW,
    DivergenceCheck,
    divergence,
    monitor_points,
)

Metrics = Sequence[tuple[int, dict[str, Any]]]
_PART = ("rewards/", "/mean")  # TRL's per-function means: rewards/<name>/mean


def monitor_frame(metrics: Metrics) -> pd.DataFrame:
    """One row per monitored step: the sample's rubric reward and rubric-free score."""
    points = monitor_points(metrics)
    frame = pd.DataFrame(points, columns=["step", "rubric reward", "rubric-free score"])
    return frame.set_index("step")


def reward_parts_frame(metrics: Metrics) -> pd.DataFrame:
    """One column per reward function (rubric_reward, choice_reward, ...), one row per
    step; empty when the job has a single reward function."""
    rows = [
        {
            "step": step,
            **{
                key.removeprefix(_PART[0]).removesuffix(_PART[1]): value
                for key, value in values.items()
                if key.startswith(_PART[0]) and key.endswith(_PART[1])
            },
        }
        for step, values in metrics
    ]
    frame = pd.DataFrame(rows).set_index("step") if rows else pd.DataFrame()
    return frame if len(frame.columns) > 1 else pd.DataFrame()


def _lines(frame: pd.DataFrame, title: str) -> go.Figure:
    fig = go.Figure()
    steps = frame.index.to_list()
    for column in frame.columns:
        fig.add_trace(
            go.Scatter(x=steps, y=frame[column].to_list(), mode="lines+markers", name=column)
        )
    fig.update_layout(
        title=title, height=300, margin={"t": 40, "b": 20, "l": 20, "r": 20}, xaxis_title="step"
    )
    return fig


def monitor_figure(frame: pd.DataFrame) -> go.Figure:
    return _lines(frame, "Drift monitor: rubric reward vs rubric-free score (same sample)")


def show_monitor(job_id: int, metrics: Metrics) -> DivergenceCheck | None:
    """The monitor's curves and its verdict; nothing for a job without a monitor."""
    parts = reward_parts_frame(metrics)
    if not parts.empty:
        st.plotly_chart(_lines(parts, "Reward functions (means)"), key=f"parts:{job_id}")
    frame = monitor_frame(metrics)
    if frame.empty:
        return None
    st.plotly_chart(monitor_figure(frame), key=f"monitor:{job_id}")
    check = divergence(monitor_points(metrics))
    rule = (
        f"Rule: over the last {WINDOW} monitored steps, a fitted rise of the rubric reward of "
        f"at least {MIN_RISE:g} while the rubric-free score gains at most {MAX_FREE_GAIN:g}."
    )
    if check.diverging:
        st.warning(check.message, icon=":material/trending_down:")
    else:
        st.caption(check.message)
    st.caption(rule)
    return check
