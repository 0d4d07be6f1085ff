"""Training: GRPO jobs with their live curves, completions and provenance; submitting a
job (a form built from the job config, or its YAML) through the agreement gate; a
reward preview before spending GPU hours; and eval runs compared side by side.

The three views are a segmented control keyed in the session, not st.tabs: tabs
reset to the first one on every rerun, which bounced a researcher editing the form
back to the job list."""

from __future__ import annotations

import streamlit as st
from rubricforge.models.accounts.permissions import Action, UserInfo, can
from rubricforge.models.core.errors import RubricforgeError
from rubricforge.models.core.status import FINISHED, LIVE, Status
from rubricforge.models.llm.endpoints import list_endpoints
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
from rubricforge.webapp.components.evaluation import evaluate_view
from rubricforge.webapp.components.text import escape_md, flash, show_flash
from rubricforge.webapp.components.training import (
    curve_frame,
    curves_figure,
    gate_inputs,
    jobs_frame,
    preview_inputs,
    show_preview,
    show_provenance,
    show_samples,
)
from rubricforge.webapp.components.training_charts import show_monitor
from rubricforge.webapp.components.training_form import Read, config_editor
from rubricforge.webapp.db import engine, read_session, write_session

REFRESH_S = 5  # curves of a running job refresh this often
JOB_KEY, PREVIEW_KEY, VIEW_KEY = "training:job", "training:preview", "training:view"
JOBS, NEW_JOB, EVALUATE = "Jobs", "New job", "Evaluate"
# The override reason's widget, and the flag that empties it on the next run (a
# widget's value cannot be set once it is drawn): a reason is for one submit only.
REASON_KEY, CLEAR_REASON_KEY = "training:override_reason", "training:clear_reason"


def show_error(exc: RubricforgeError) -> None:
    """A service's message as an error box. Messages shared with the CLI quote commands
    in backticks; on the page they are plain words."""
    st.error(escape_md(str(exc).replace("`", "")), icon=":material/error:")


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


def submit(user: UserInfo, snapshot_id: int, read: Read, policy: GatePolicy, reason: str) -> None:
    try:
        config = read()
        with write_session() as session:
            job_id = submit_job(
                session,
                actor=user,
                snapshot_id=snapshot_id,
                config=config,
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
    flash(
        f"Job {job_id} queued; a trainer worker (rubricforge worker) will pick it up. "
        "Follow it under Jobs."
    )
    st.rerun()


def new_job(user: UserInfo) -> None:
    with read_session() as session:
        snapshots = snapshot_choices(session)
        endpoints = list_endpoints(session)
    if not snapshots:
        st.info(
            "No export snapshots yet: freeze approved rubrics on the Data page "
            "or with the command rubricforge export."
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
    read = config_editor(endpoints)
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
        submit(user, snapshot_id, read, policy, reason)
    preview_panel(snapshot_id, read)


def preview_panel(snapshot_id: int, read: Read) -> None:
    inputs = preview_inputs()
    if st.button("Preview rewards", icon=":material/query_stats:"):
        try:
            cfg = parse_job_config(read())
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
view = st.segmented_control(
    "View", [JOBS, NEW_JOB, EVALUATE], default=JOBS, required=True, key=VIEW_KEY,
    label_visibility="collapsed",
)  # fmt: skip
if view == JOBS:
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
elif view == NEW_JOB:
    if can(user, Action.train):
        new_job(user)
    else:
        st.info(f"Submitting jobs needs the researcher or admin role (yours: {user.role.value}).")
else:
    evaluate_view()
