"""The Judge runs page's pieces: the form that starts a run and the runs table."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st
from rubricforge.models.accounts.permissions import UserInfo
from rubricforge.models.core.errors import RubricforgeError
from rubricforge.models.judging.background import JudgeRunInfo, start_judge_run
from rubricforge.models.judging.judge import JudgeConfig
from rubricforge.models.judging.orm import JudgeMode
from rubricforge.models.judging.rewards import Aggregation
from rubricforge.models.llm.config import EndpointConfig
from rubricforge.models.llm.endpoints import endpoint_choices, resolve_endpoint
from rubricforge.models.rubrics.browse import dataset_names
from rubricforge.models.training.jobs import snapshot_choices
from rubricforge.webapp.components.text import flash, show_error
from rubricforge.webapp.db import engine, read_session

TIME = "%Y-%m-%d %H:%M:%S"
MODES = {
    JudgeMode.explicit: "explicit (per-criterion verdicts, weighted)",
    JudgeMode.implicit: "implicit (one 1-10 rating from the whole rubric)",
    JudgeMode.likert: "Likert baseline (no rubric)",
    JudgeMode.reference_likert: "Likert with the reference answer (no rubric)",
}


def runs_frame(runs: Sequence[JudgeRunInfo]) -> pd.DataFrame:
    rows = [
        {
            "Run": r.id,
            "Status": r.status.value,
            "Judged": f"{r.done}/{r.total}",
            "Failed": r.failed,
            "Model": r.model,
            "Mode": r.mode.value,
            "Target": r.target,
            "Tokens in": r.tokens_in,
            "Tokens out": r.tokens_out,
            "Cost ($)": r.cost_usd,
            "By": r.created_by or "cli",
            "Started": r.started_at.strftime(TIME) if r.started_at else "",
            "Finished": r.finished_at.strftime(TIME) if r.finished_at else "",
            "Error": (r.error or "").split("\n", 1)[0],
        }
        for r in runs
    ]
    return pd.DataFrame(rows)


def _endpoint(choice: str, model: str) -> EndpointConfig:
    with read_session() as session:
        endpoint = resolve_endpoint(session, choice)
    if model.strip() and model.strip() != endpoint.model:
        return EndpointConfig.build(**{**endpoint.model_dump(), "model": model.strip()})
    return endpoint


def start_form(user: UserInfo) -> None:
    """Choose what to judge and with which endpoint, mode and concurrency; start."""
    with read_session() as session:
        endpoints = endpoint_choices(session)
        datasets = dataset_names(session)
        snapshots = {s.id: s for s in snapshot_choices(session)}
    if not endpoints:
        st.info("No LLM endpoint is configured: an admin adds one on the Admin page.")
        return
    target = st.radio("Judge the stored responses of", ["a dataset", "a snapshot"],
                      horizontal=True, disabled=not snapshots)  # fmt: skip
    dataset, snapshot_id = None, None
    if target == "a dataset":
        dataset = st.selectbox("Dataset", datasets)
    else:
        snapshot_id = st.selectbox(
            "Snapshot",
            list(snapshots),
            format_func=lambda i: f"{snapshots[i].name} · {snapshots[i].sha256[:12]}",
        )
    c1, c2 = st.columns(2)
    choice = c1.selectbox("Endpoint", endpoints)
    model = c2.text_input("Model (blank: the endpoint's)")
    c3, c4, c5 = st.columns(3)
    mode = c3.selectbox("Mode", list(MODES), format_func=MODES.__getitem__)
    aggregation = c4.selectbox(
        "Aggregation (explicit)",
        [Aggregation.rar_explicit, Aggregation.points],
        format_func=lambda a: {"rar_explicit": "RaR explicit", "points": "points"}[a.value],
        disabled=mode is not JudgeMode.explicit,
    )
    concurrency = c5.number_input("Requests in flight", 1, 256, 16)
    if not st.button("Start judge run", type="primary", icon=":material/gavel:"):
        return
    try:
        config = JudgeConfig(
            _endpoint(choice, model),
            mode=mode,
            aggregation=aggregation,
            concurrency=int(concurrency),
        )
        run_id = start_judge_run(engine(), user, config, dataset=dataset, snapshot_id=snapshot_id)
    except RubricforgeError as exc:
        show_error(exc)
        return
    flash(f"Judge run {run_id} started; its progress shows below.")
    st.rerun()
