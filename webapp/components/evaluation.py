"""The Training page's Evaluate view: eval runs (rubricforge eval run), one run's
scores with the rubric judge beside the rubric-free judge, and two runs compared
prompt by prompt. Tables come from pure functions so tests can check them."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st
from rubricforge.models.core.errors import RubricforgeError
from rubricforge.models.training.evaluation_compare import Comparison, PairedDiff, compare_runs
from rubricforge.models.training.evaluation_runs import (
    EvalRunInfo,
    EvalScoreInfo,
    get_eval_run,
    list_eval_runs,
)
from rubricforge.webapp.components.text import escape_md
from rubricforge.webapp.db import read_session

RUN_KEY, BASE_KEY, OTHER_KEY = "training:eval_run", "training:eval_base", "training:eval_other"


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def runs_frame(runs: Sequence[EvalRunInfo]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Run": r.id,
                "Policy": r.policy_label,
                "Kind": r.policy_kind,
                "Job": r.job_id,
                "Snapshot": r.snapshot_id,
                "Judge": f"{r.judge.get('model')} ({r.judge.get('mode')})",
                "Prompts": r.n,
                "Rubric reward": _r(r.rubric_mean),
                "Rubric-free": _r(r.likert_mean),
                "Judge failures": r.rubric_failures + r.likert_failures,
                "Created": r.created_at.strftime("%Y-%m-%d %H:%M"),
            }
            for r in runs
        ]
    )


def scores_frame(scores: Sequence[EvalScoreInfo]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Prompt": s.uid,
                "Rubric reward": _r(s.rubric_reward),
                "Rubric-free": _r(s.likert_reward),
                "Completion": s.completion,
                "Error": s.error or "",
            }
            for s in scores
        ]
    )


def comparison_frame(cmp: Comparison) -> pd.DataFrame:
    """Per prompt: both runs' rewards with each judge and the difference (compared - baseline)."""
    return pd.DataFrame(
        [
            {
                "Prompt": p.uid,
                "Rubric, baseline": _r(p.baseline_rubric),
                "Rubric, compared": _r(p.candidate_rubric),
                "Rubric difference": _r(p.rubric_diff),
                "Rubric-free, baseline": _r(p.baseline_likert),
                "Rubric-free, compared": _r(p.candidate_likert),
                "Rubric-free difference": _r(p.likert_diff),
            }
            for p in cmp.prompts
        ]
    )


def diff_line(d: PairedDiff) -> str:
    if d.mean_diff is None:
        return f"{d.judge}: no prompt scored in both runs"
    line = f"{d.judge}: mean difference {d.mean_diff:+.3f} over {d.n} prompt(s)"
    if d.low is not None and d.high is not None:
        line += f", 95% interval {d.low:+.3f} to {d.high:+.3f}"
    return line


def _label(runs: Sequence[EvalRunInfo]) -> dict[int, str]:
    return {r.id: f"#{r.id} {r.policy_label} (snapshot {r.snapshot_id})" for r in runs}


def show_run(run_id: int) -> None:
    with read_session() as session:
        run, scores = get_eval_run(session, run_id)
    st.caption(
        escape_md(
            f"{run.policy_kind} {run.policy_source} · snapshot {run.snapshot_id} "
            f"({run.snapshot_sha256[:12]}) · judge {run.judge.get('model')} "
            f"({run.judge.get('mode')})"
        )
    )
    c1, c2, c3 = st.columns(3)
    c1.metric(
        "Rubric reward mean",
        "n/a" if run.rubric_mean is None else f"{run.rubric_mean:.3f}",
        help="The chosen judge, with the rubric.",
    )
    c2.metric(
        "Rubric-free mean",
        "n/a" if run.likert_mean is None else f"{run.likert_mean:.3f}",
        help="The same judge model without the rubric (Direct-Likert, 1-10 mapped to 0-1).",
    )
    c3.metric(
        "Prompts",
        run.n,
        help=f"Judge failures: {run.rubric_failures} with the rubric, {run.likert_failures} "
        "without; left out of the means.",
    )
    if run.category_rates:
        st.dataframe(
            pd.DataFrame(
                [{"Category": c, "Met": f"{rate:.0%}"} for c, rate in run.category_rates.items()]
            ),
            hide_index=True,
        )
        st.caption("Pitfall: the share of pitfalls the completions fell into (lower is better).")
    wide = {"Completion": st.column_config.TextColumn(width="large")}
    st.dataframe(scores_frame(scores), hide_index=True, column_config=wide)


def compare_panel(runs: Sequence[EvalRunInfo]) -> None:
    st.subheader("Compare two runs", anchor=False)
    if len(runs) < 2:
        st.caption(
            "Two eval runs are needed to compare (base against trained, preset against preset)."
        )
        return
    names = _label(runs)
    ids = list(names)
    c1, c2 = st.columns(2)
    base = c1.selectbox("Baseline run", ids, index=1, format_func=names.__getitem__, key=BASE_KEY)
    other = c2.selectbox("Compared run", ids, index=0, format_func=names.__getitem__, key=OTHER_KEY)
    with read_session() as session:  # which stops the page on an error; this one is a hint
        try:
            cmp = compare_runs(session, base, other)
        except RubricforgeError as exc:
            message = str(exc)
            st.info(escape_md(message[:1].upper() + message[1:]))
            return
    if not cmp.same_snapshot:
        st.warning("The runs are on different snapshots: only the prompts both scored are paired.")
    st.markdown(escape_md(diff_line(cmp.rubric)) + "  \n" + escape_md(diff_line(cmp.likert)))
    st.dataframe(comparison_frame(cmp), hide_index=True)


def evaluate_view() -> None:
    with read_session() as session:
        runs = list_eval_runs(session)
    if not runs:
        st.info(
            "No eval runs yet. Evaluate a checkpoint or a policy endpoint on a held-out "
            "snapshot with the command rubricforge eval run; its runs appear here."
        )
        return
    st.dataframe(runs_frame(runs), hide_index=True)
    names = _label(runs)
    run_id = st.selectbox("Eval run", list(names), format_func=names.__getitem__, key=RUN_KEY)
    show_run(run_id)
    compare_panel(runs)
