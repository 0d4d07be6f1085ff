"""Judge runs: start a judge over a dataset's or a snapshot's stored responses (in the
background, `models.judging.background`) and watch the runs' progress, tokens and cost."""

from __future__ import annotations

import streamlit as st
from rubricforge.models.accounts.permissions import Action, UserInfo, can
from rubricforge.models.core.errors import RubricforgeError
from rubricforge.models.core.status import Status
from rubricforge.models.judging.background import JudgeRunInfo, list_runs, mark_abandoned
from rubricforge.models.judging.runs import run_progress
from rubricforge.webapp.auth import page_user
from rubricforge.webapp.components.judging import runs_frame, start_form
from rubricforge.webapp.components.text import escape_md, flash, show_error, show_flash
from rubricforge.webapp.db import engine, read_session, write_session

REFRESH_S = 2  # running runs' progress refreshes this often
RECENT = 20


def stalled_panel(user: UserInfo, run: JudgeRunInfo) -> None:
    """A running run with no heartbeat for a long while: its process stopped."""
    when = f"{run.last_seen:%Y-%m-%d %H:%M} UTC" if run.last_seen else "its start"
    st.warning(
        escape_md(
            f"Run {run.id} ({run.model} on {run.target}) has shown no progress since {when}: "
            f"the process running it has probably stopped ({run.done}/{run.total} judged)."
        ),
        icon=":material/hourglass_disabled:",
    )
    if not can(user, Action.run_judge):
        return
    if st.button(f"Mark run {run.id} as failed", key=f"judging:abandon:{run.id}"):
        try:
            with write_session() as session:
                mark_abandoned(session, user, run.id)
        except RubricforgeError as exc:
            show_error(exc)
            return
        flash(f"Run {run.id} marked failed. Start it again: its judgments come from the cache.")
        st.rerun()


def runs_panel(live: bool, user: UserInfo) -> None:
    """Progress bars of the running runs and the recent runs; reruns alone while live."""
    with read_session() as session:
        runs = list_runs(session, limit=RECENT)
    for run in runs:
        if run.stalled:
            stalled_panel(user, run)
    running = [r for r in runs if r.status is Status.running and not r.stalled]
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
    live = any(
        r.status is Status.running and not r.stalled for r in list_runs(session, limit=RECENT)
    )
st.fragment(run_every=REFRESH_S if live else None)(runs_panel)(live, user)
