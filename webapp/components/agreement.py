"""The agreement dashboard's and the leaderboard's tables and figures, from the
services' dataclasses. Chart data comes from pure functions returning frames
(`breakdown_frame`, `labels_needed_frame`, ...), so tests check numbers, not pixels."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from rubricforge.models.agreement.items import ItemDetail
from rubricforge.models.agreement.leaderboard import Leaderboard, RankBy
from rubricforge.models.agreement.report import Breakdown, Headline, ResponseFigures
from rubricforge.models.agreement.stats import BinaryAgreement, Estimate
from rubricforge.webapp.components.labeling import verdict_word

TARGET_WIDTHS = (0.3, 0.2, 0.15, 0.1, 0.05)
EXCERPT = 160


def show_table(frame: pd.DataFrame) -> None:
    """A table with its float columns to three decimals (counts stay whole)."""
    floats = frame.select_dtypes("float").columns
    config = {c: st.column_config.NumberColumn(format="%.3f") for c in floats}
    st.dataframe(frame, hide_index=True, column_config=config)


def number(value: float | None, digits: int = 3) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def interval(e: Estimate) -> str:
    if not e.defined:
        return e.reason or "undefined"
    return f"95% CI {number(e.low)}–{number(e.high)} · n={e.n}"


def headline(report: Headline) -> list[tuple[str, Estimate]]:
    o = report.overall
    return [
        ("Accuracy", o.accuracy),
        ("Cohen's kappa", o.kappa),
        ("Krippendorff's alpha", report.alpha),
        ("Precision (met)", o.precision),
        ("Recall (met)", o.recall),
    ]


def show_headline(report: Headline) -> None:
    for col, (label, e) in zip(st.columns(5), headline(report), strict=True):
        col.metric(label, number(e.value))
        col.caption(interval(e))


def _value(e: Estimate) -> float | None:
    return None if math.isnan(e.value) else e.value


def _bound(e: Estimate, bound: float) -> float | None:
    return bound if e.defined and not math.isnan(bound) else None


def breakdown_frame(b: Breakdown, name: str) -> pd.DataFrame:
    """One row per group: labels, accuracy and kappa with their intervals, P and R."""
    rows = []
    for g in b.groups:
        s: BinaryAgreement = g.stats
        rows.append(
            {
                name: g.group,
                "Pairs": s.n,
                "Accuracy": _value(s.accuracy),
                "Accuracy low": _bound(s.accuracy, s.accuracy.low),
                "Accuracy high": _bound(s.accuracy, s.accuracy.high),
                "Kappa": _value(s.kappa),
                "Kappa low": _bound(s.kappa, s.kappa.low),
                "Kappa high": _bound(s.kappa, s.kappa.high),
                "Precision": _value(s.precision),
                "Recall": _value(s.recall),
            }
        )
    columns = [name, "Pairs", "Accuracy", "Accuracy low", "Accuracy high", "Kappa",
               "Kappa low", "Kappa high", "Precision", "Recall"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def breakdown_figure(frame: pd.DataFrame, name: str, metric: str = "Kappa") -> go.Figure:
    """Bars of `metric` per group with the bootstrap interval as error bars."""
    value = frame[metric].astype(float)
    fig = go.Figure(
        go.Bar(
            x=frame[name].astype(str).tolist(),
            y=value.tolist(),
            name=metric,
            error_y={
                "type": "data",
                "array": (frame[f"{metric} high"].astype(float) - value).tolist(),
                "arrayminus": (value - frame[f"{metric} low"].astype(float)).tolist(),
            },
        )
    )
    fig.update_layout(height=300, margin={"t": 10, "b": 10, "l": 10, "r": 10}, yaxis_title=metric)
    return fig


def confusion_figure(confusion: tuple[tuple[int, int], tuple[int, int]]) -> go.Figure:
    """Rows: the humans' label; columns: the judge's; order (not met, met)."""
    z = [list(row) for row in confusion]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=["judge: not met", "judge: met"],
            y=["human: not met", "human: met"],
            text=[[str(v) for v in row] for row in z],
            texttemplate="%{text}",
            colorscale="Blues",
            showscale=False,
        )
    )
    fig.update_layout(height=280, margin={"t": 10, "b": 10, "l": 10, "r": 10})
    fig.update_yaxes(autorange="reversed")
    return fig


def responses_frame(report: ResponseFigures) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Judge": r.judge,
                "Spearman rho": _value(r.spearman),
                "rho 95% CI": interval(r.spearman),
                f"Kappa (good at {report.threshold:g})": _value(r.thresholded.kappa),
                "Responses": r.spearman.n,
            }
            for r in report.responses
        ]
    )


def labels_needed_frame(e: Estimate, targets: Sequence[float] = TARGET_WIDTHS) -> pd.DataFrame:
    """More labels needed for the interval of `e` to shrink to each target width."""
    rows = [{"Target CI width": t, "More labels": e.labels_needed(t)} for t in targets]
    return pd.DataFrame(rows, columns=["Target CI width", "More labels"])


def labels_needed_figure(frame: pd.DataFrame) -> go.Figure:
    fig = go.Figure(
        go.Bar(
            x=[f"±{t / 2:g}" for t in frame["Target CI width"]],
            y=frame["More labels"].tolist(),
        )
    )
    fig.update_layout(
        height=260,
        margin={"t": 10, "b": 10, "l": 10, "r": 10},
        xaxis_title="target half-width of the kappa interval",
        yaxis_title="more labels",
    )
    return fig


def _excerpt(text: str, n: int = EXCERPT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def disagreement_frame(items: Sequence[ItemDetail]) -> pd.DataFrame:
    rows = []
    for d in items:
        answered = [lab for lab in d.labels if lab.met is not None]
        rows.append(
            {
                "Response": d.response_id,
                "Criterion": d.criterion.title if d.criterion else "(whole response)",
                "Humans": "; ".join(
                    f"{lab.annotator}{' (final)' if lab.is_adjudication else ''}: "
                    f"{verdict_word(lab.met)}"
                    for lab in answered
                ),
                "Judges": "; ".join(
                    f"{v.judge_model} ({v.judge_mode.value}): {verdict_word(v.met)}"
                    for v in d.verdicts
                    if v.ok
                ),
                "Rationale": " | ".join(v.rationale for v in d.verdicts if v.ok),
                "Question": _excerpt(d.question),
                "Response text": _excerpt(d.response),
            }
        )
    columns = ["Response", "Criterion", "Humans", "Judges", "Rationale", "Question",
               "Response text"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def leaderboard_frame(
    board: Leaderboard,
    *,
    by_cost: bool = False,
    self_preference: dict[tuple[str, str], str] | None = None,
) -> pd.DataFrame:
    """One row per judge; `self_preference` ((model, mode) -> summary) adds its column."""
    prefs = self_preference or {}
    rows = [
        {
            "Rank": r.rank,
            "Judge": r.judge,
            "Self-preference (FP rate)": prefs.get((r.judge_model, r.judge_mode.value), "n/a"),
            "Criterion kappa": _value(r.criterion_kappa),
            "Response kappa": _value(r.response_kappa),
            "Response kappa CI": interval(r.response_kappa),
            "Spearman rho": _value(r.response_spearman),
            "Agrees with best": r.agrees_with_best,
            "Judgments": r.cost.judgments,
            "Tokens / judgment": r.tokens_per_judgment,
            "Cost / 1k judgments ($)": r.cost_per_1k,
            "Tokens in": r.cost.tokens_in,
            "Tokens out": r.cost.tokens_out,
        }
        for r in board.rows
    ]
    frame = pd.DataFrame(rows)
    if by_cost and not frame.empty:
        frame = frame.sort_values(
            ["Cost / 1k judgments ($)", "Tokens / judgment", "Rank"], na_position="last"
        )
    return frame


def leaderboard_figure(board: Leaderboard) -> go.Figure:
    """Agreement (the ranking figure, with its interval) against tokens per judgment."""
    rank_by = board.rank_by
    fig = go.Figure()
    for r in board.rows:
        e = r.figure(rank_by)
        if not e.defined or r.tokens_per_judgment is None:
            continue
        # kappa and rho live in [-1, 1]; a bootstrap bound never draws past it.
        high, low = min(e.high, 1.0), max(e.low, -1.0)
        fig.add_trace(
            go.Scatter(
                x=[r.tokens_per_judgment],
                y=[e.value],
                error_y={
                    "type": "data",
                    "array": [max(high - e.value, 0.0)],
                    "arrayminus": [max(e.value - low, 0.0)],
                },  # fmt: skip
                mode="markers+text",
                text=[r.judge],
                textposition="top center",
                name=r.judge,
            )
        )
    label = {RankBy.response_kappa: "response kappa", RankBy.response_spearman: "Spearman rho",
             RankBy.criterion_kappa: "criterion kappa"}[rank_by]  # fmt: skip
    fig.update_layout(
        height=360,
        margin={"t": 10, "b": 10, "l": 10, "r": 10},
        xaxis_title="tokens per judgment",
        yaxis_title=label,
        yaxis_range=[-1.05, 1.05],
        xaxis_rangemode="tozero",
        showlegend=False,
    )
    return fig
