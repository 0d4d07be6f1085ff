"""Judge runs: start a judge over a dataset's or a snapshot's stored responses (in the
background, `models.judge_jobs`) and watch the runs' progress, tokens and cost."""

from __future__ import annotations

import streamlit as st

from models.judge_jobs import list_runs
from models.judge_runs import run_progress
from models.judging import RunStatus
from models.permissions import Action, can
from webapp.auth import page_user
from webapp.components.judging import runs_frame, start_form
from webapp.components.text import escape_md, show_flash
from webapp.db import engine, read_session

REFRESH_S = 2  # running runs' progress refreshes this often
RECENT = 20


def runs_panel(live: bool) -> None:
    """Progress bars of the running runs and the recent runs; reruns alone while live."""
    with read_session() as session:
        runs = list_runs(session, limit=RECENT)
    running = [r for r in runs if r.status is RunStatus.running]
    if live and not running:
        st.rerun()  # the whole page, so it stops polling
    for run in running:
        p = run_progress(engine(), run.id)
        share = p["done"] / p["total"] if p["total"] else 0.0
        st.progress(
            share,
            text=escape_md(
                f"Run {run.id} · {run.model} ({run.mode.value}) on {run.target}: "
                f"{p['done']}/{p['total']} judged, {p['failed']} failed, "
                f"{p['tokens_in'] + p['tokens_out']:,} tokens"
            ),
        )
    if not runs:
        st.info("No judge runs yet.")
        return
    st.dataframe(runs_frame(runs), hide_index=True)


st.title("Judge runs")
user = page_user()
show_flash()
if can(user, Action.run_judge):
    with st.expander("Start a judge run", icon=":material/gavel:"):
        start_form(user)
else:
    st.caption(f"Starting judge runs needs the expert, researcher or admin role "
               f"(yours: {user.role.value}).")  # fmt: skip
st.subheader("Recent runs", anchor=False)
with read_session() as session:
    live = any(r.status is RunStatus.running for r in list_runs(session, limit=RECENT))
st.fragment(run_every=REFRESH_S if live else None)(runs_panel)(live)
