"""Training: GRPO jobs with their live curves, completions and provenance; submitting a
job through the agreement gate; and a reward preview before spending GPU hours."""

from __future__ import annotations

import streamlit as st
from rubricforge.models.accounts.permissions import Action, UserInfo, can
from rubricforge.models.core.errors import RubricforgeError
from rubricforge.models.core.status import FINISHED, LIVE, Status
from rubricforge.models.training.config import parse_job_config
from rubricforge.models.training.gate import AgreementGateError, GatePolicy
from rubricforge.models.training.jobs import (
    get_job,
    job_metrics,
    last_samples,
    list_jobs,
    request_cancel,
    snapshot_choices,
    submit_job,
)
from rubricforge.models.training.preview import PreviewSettings, policy_endpoint, preview_rewards
from rubricforge.models.training.thresholds import effective_thresholds
from rubricforge.webapp.auth import page_user
from rubricforge.webapp.components.text import flash, show_error, show_flash
from rubricforge.webapp.components.training import (
    curve_frame,
    curves_figure,
    default_config_text,
    gate_inputs,
    jobs_frame,
    parse_config_text,
    preview_inputs,
    show_preview,
    show_provenance,
    show_samples,
)
from rubricforge.webapp.components.training_charts import show_monitor
from rubricforge.webapp.db import engine, read_session, write_session

REFRESH_S = 5  # curves of a running job refresh this often
JOB_KEY, PREVIEW_KEY = "training:job", "training:preview"
# The override reason's widget, and the flag that empties it on the next run (a
# widget's value cannot be set once it is drawn): a reason is for one submit only.
REASON_KEY, CLEAR_REASON_KEY = "training:override_reason", "training:clear_reason"


def job_panel(user: UserInfo, job_id: int) -> None:
    with read_session() as session:
        job = get_job(session, job_id)
    st.subheader(f"Job {job.id}: {job.status.value}", anchor=False)
    if job.error:
        st.error(f"{job.error}", icon=":material/error:")
    may_cancel = can(user, Action.train) and job.status not in FINISHED
    if may_cancel and st.button(
        "Cancel job", disabled=job.cancel_requested, icon=":material/stop:"
    ):
        cancel(user, job.id)
    show_provenance(job)
    live = job.status in LIVE
    st.fragment(run_every=REFRESH_S if live else None)(progress)(job.id, live)


def cancel(user: UserInfo, job_id: int) -> None:
    try:
        with write_session() as session:
            status = request_cancel(session, job_id, actor=user)
    except RubricforgeError as exc:
        show_error(exc)
        return
    if status is Status.cancelled:
        flash(f"Job {job_id} cancelled.")
    else:
        flash(f"Job {job_id}: cancel requested; it stops after the current step.")
    st.rerun()


def progress(job_id: int, live: bool) -> None:
    """Curves and the newest completions; reruns alone while the job runs."""
    with read_session() as session:
        status = get_job(session, job_id).status
        metrics = job_metrics(session, job_id)
        step, samples = last_samples(session, job_id)
    if live and status in FINISHED:
        st.rerun()  # the whole page, so it stops polling and shows the outcome
    if metrics:
        st.plotly_chart(curves_figure(curve_frame(metrics)), key=f"curves:{job_id}")
        show_monitor(job_id, metrics)
    else:
        st.caption("No metrics yet: the curves appear after the first logging step.")
    st.markdown("**Last completions and their verdicts**")
    show_samples(step, samples)


def submit(user: UserInfo, snapshot_id: int, text: str, policy: GatePolicy, reason: str) -> None:
    try:
        with write_session() as session:
            job_id = submit_job(
                session,
                actor=user,
                snapshot_id=snapshot_id,
                config=parse_config_text(text),
                gate=policy,
                override_reason=reason,
            )
    except AgreementGateError as exc:
        show_error(exc)
        st.info("To launch anyway, write why in “Override reason” and submit again.")
        return
    except RubricforgeError as exc:
        show_error(exc)
        return
    st.session_state[JOB_KEY] = job_id
    st.session_state[CLEAR_REASON_KEY] = True
    flash(f"Job {job_id} queued; a trainer worker (`rubricforge worker`) will pick it up.")
    st.rerun()


def new_job(user: UserInfo) -> None:
    with read_session() as session:
        snapshots = snapshot_choices(session)
    if not snapshots:
        st.info(
            "No export snapshots yet: freeze approved rubrics on the Data page "
            "or with `rubricforge export`."
        )
        return
    by_id = {s.id: s for s in snapshots}
    snapshot_id = st.selectbox(
        "Snapshot",
        list(by_id),
        format_func=lambda i: (
            f"{by_id[i].name} · {by_id[i].row_count} prompts · {by_id[i].sha256[:12]}"
        ),
    )
    text = st.text_area("Config (YAML or JSON)", default_config_text(), height=360)
    with read_session() as session:
        bar = effective_thresholds(session, snapshot_id)
    policy = gate_inputs(snapshot_id, bar)
    if st.session_state.pop(CLEAR_REASON_KEY, False):
        st.session_state[REASON_KEY] = ""
    reason = st.text_area(
        "Override reason",
        key=REASON_KEY,
        help="Needed when the agreement gate refuses the job or its bar is lowered below "
        "the admins'; recorded with the job and in the audit log.",
    )
    if st.button("Submit job", type="primary", icon=":material/rocket_launch:"):
        submit(user, snapshot_id, text, policy, reason)
    preview_panel(snapshot_id, text)


def preview_panel(snapshot_id: int, text: str) -> None:
    inputs = preview_inputs()
    if st.button("Preview rewards", icon=":material/query_stats:"):
        try:
            cfg = parse_job_config(parse_config_text(text))
            endpoint = policy_endpoint(
                cfg, base_url=inputs.url, model=inputs.model, api_key_env=inputs.key_env
            )
            settings = PreviewSettings.build(prompts=inputs.prompts, k=inputs.k, seed=inputs.seed)
            with st.spinner("Sampling and judging…"):
                st.session_state[PREVIEW_KEY] = preview_rewards(
                    engine(), snapshot_id, cfg, endpoint, settings
                )
        except RubricforgeError as exc:
            show_error(exc)
    preview = st.session_state.get(PREVIEW_KEY)
    if preview is not None and preview.snapshot_id == snapshot_id:
        show_preview(preview)


st.title("Training")
user = page_user()
show_flash()
jobs_tab, new_tab = st.tabs(["Jobs", "New job"])
with jobs_tab:
    with read_session() as session:
        jobs = list_jobs(session)
    if not jobs:
        st.info(
            "No training jobs yet."
            + (" Queue one under “New job”." if can(user, Action.train) else "")
        )
    else:
        st.dataframe(jobs_frame(jobs), hide_index=True)
        ids = [j.id for j in jobs]
        chosen = st.session_state.get(JOB_KEY)
        job_id = st.selectbox(
            "Job",
            ids,
            index=ids.index(chosen) if chosen in ids else 0,
            format_func=lambda i: f"#{i}",
        )
        st.session_state[JOB_KEY] = job_id
        job_panel(user, job_id)
with new_tab:
    if can(user, Action.train):
        new_job(user)
    else:
        st.info(f"Submitting jobs needs the researcher or admin role (yours: {user.role.value}).")
