"""`rubricforge train ...` and `rubricforge worker`: GRPO jobs on export snapshots,
and the worker that trains them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from rubricforge.models.accounts.permissions import OPERATOR

from .cli_common import migrated_engine as _migrated_engine
from .cli_common import user_errors

train_app = typer.Typer(
    help="GRPO training jobs: submit, preview rewards, cancel, list.", no_args_is_help=True
)


@train_app.command("submit")
@user_errors
def train_submit(
    snapshot: Annotated[int, typer.Option(help="Export snapshot id to train on")],
    config: Annotated[
        Path | None,
        typer.Option(help="Job config file (.json, .yaml); see models/training/config.py"),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="KEY=VALUE on top of the file, repeatable; dotted for the judge "
            "(judge.model=gpt-4o-mini); VALUE read as JSON when it parses",
        ),
    ] = None,
    override_reason: Annotated[
        str | None,
        typer.Option(
            help="Queue the job even though the agreement gate refuses it; the reason is "
            "recorded with the job and in the audit log"
        ),
    ] = None,
    min_kappa: Annotated[
        float | None,
        typer.Option(
            help="Agreement gate: lowest judge-vs-human Cohen's kappa (default: the admins'; "
            "lower is an override and needs --override-reason)"
        ),
    ] = None,
    min_labels: Annotated[
        int | None,
        typer.Option(
            help="Agreement gate: fewest labelled spot-check items (default: the admins'; "
            "lower is an override and needs --override-reason)"
        ),
    ] = None,
) -> None:
    """Validate a GRPO job config, check the judge's agreement with the snapshot's
    spot-checks, and queue the job for a trainer worker."""
    from rubricforge.models.core.db import session_scope
    from rubricforge.models.training.config_files import apply_overrides, load_config_file
    from rubricforge.models.training.gate import GatePolicy
    from rubricforge.models.training.jobs import get_job, submit_job
    from rubricforge.models.training.thresholds import effective_thresholds

    data = apply_overrides(load_config_file(config) if config else {}, set_ or [])
    engine = _migrated_engine()
    with session_scope(engine) as s:
        gate = None
        if min_kappa is not None or min_labels is not None:
            bar = effective_thresholds(s, snapshot)
            gate = GatePolicy(
                min_kappa=bar.min_kappa if min_kappa is None else min_kappa,
                min_labels=bar.min_labels if min_labels is None else min_labels,
            )
        job_id = submit_job(
            s, actor=OPERATOR, snapshot_id=snapshot, config=data, gate=gate,
            override_reason=override_reason,
        )  # fmt: skip
    with session_scope(engine) as s:
        job = get_job(s, job_id)
    sha = job.provenance["snapshot"]["sha256"]
    typer.echo(
        f"job {job_id} queued: {job.base_model}, {job.max_steps} steps on snapshot "
        f"{job.snapshot_name} (sha256 {sha[:12]}); start a worker with `rubricforge worker`"
    )
    typer.echo(f"reward preset: {job.provenance['judge']['preset']}")
    agreement = job.provenance["agreement"]
    kappa = "undefined" if agreement["kappa"] is None else f"{agreement['kappa']:.2f}"
    typer.echo(f"agreement: kappa {kappa} over {agreement['n_items']} labelled item(s)")
    if agreement["override"]:
        typer.echo(f"override: {agreement['override']['reason']}")
    for warning in agreement.get("warnings", []):
        typer.echo(f"warning: {warning}")


@train_app.command("preview")
@user_errors
def train_preview(
    snapshot: Annotated[int, typer.Option(help="Export snapshot id")],
    policy_url: Annotated[
        str, typer.Option(help="OpenAI-compatible URL serving the base model, e.g. vLLM's /v1")
    ],
    config: Annotated[
        Path | None, typer.Option(help="Job config file (.json, .yaml), as for `train submit`")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="KEY=VALUE on top of the file, repeatable")
    ] = None,
    prompts: Annotated[int, typer.Option(help="Prompts sampled from the snapshot")] = 20,
    k: Annotated[
        int | None,
        typer.Option(
            help="Completions per prompt (GRPO's group size); default: the config's num_generations"
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the prompt sample")] = 0,
    policy_model: Annotated[
        str | None, typer.Option(help="Model name at the policy URL (default: the base model)")
    ] = None,
    policy_key_env: Annotated[
        str, typer.Option(help="Variable holding the policy endpoint's key; 'none' for no key")
    ] = "none",
) -> None:
    """Before a run: sample K completions per prompt from the policy, score them with
    the job's reward, and show which rubrics give GRPO groups no reward spread."""
    from rubricforge.models.training.config import parse_job_config
    from rubricforge.models.training.config_files import apply_overrides, load_config_file
    from rubricforge.models.training.preview import (
        PreviewSettings,
        policy_endpoint,
        preview_rewards,
    )

    settings = PreviewSettings.build(prompts=prompts, k=k, seed=seed)
    cfg = parse_job_config(apply_overrides(load_config_file(config) if config else {}, set_ or []))
    policy = policy_endpoint(
        cfg, base_url=policy_url, model=policy_model, api_key_env=policy_key_env
    )
    p = preview_rewards(_migrated_engine(), snapshot, cfg, policy, settings, progress=True)
    rewards = p.rewards
    mean = sum(rewards) / len(rewards)
    zero = sum(g.zero_spread for g in p.groups)
    typer.echo(
        f"reward preview: snapshot {p.snapshot_id}, {len(p.groups)} prompt(s) x {p.k} "
        f"completions from {p.policy_model}; judge {p.judge_model} ({p.judge_mode}, template "
        f"{p.template_hash[:12]})"
    )
    typer.echo(f"reward preset: {p.preset}: {cfg.judge.rule.summary}")
    typer.echo(f"rewards: mean {mean:.3f}; judge failures (fallback reward): {p.judge_failures}")
    if p.category_rates:
        shown = ", ".join(
            f"{name.removeprefix('rubric/').replace('_', ' ')} {value:.2f}"
            for name, value in p.category_rates.items()
        )
        typer.echo(f"per category, over {p.rated_completions} judged completion(s): {shown}")
    typer.echo(
        f"zero-spread groups: {zero} of {len(p.groups)} ({p.zero_spread_share:.0%}): "
        "all K rewards equal, no GRPO gradient from these prompts"
    )
    top = max(n for _, _, n in p.histogram()) or 1
    for low, high, n in p.histogram():
        typer.echo(f"  {low:.1f}-{high:.1f} {'#' * round(30 * n / top):30} {n}")
    typer.echo(f"{'uid':24}  {'mean':>5}  {'std':>5}  zero  fails  rewards / editor link")
    # A full link: opened signed out, it lands on that prompt after sign-in.
    app_url = os.environ.get("RUBRICFORGE_APP_URL", "http://127.0.0.1:8501").rstrip("/")
    for g in p.groups:
        shown = " ".join(f"{r:.2f}" for r in g.rewards)
        typer.echo(
            f"{g.uid[:24]:24}  {g.mean:5.2f}  {g.std:5.3f}  {'yes' if g.zero_spread else 'no':4}  "
            f"{g.judge_failures:5}  {shown}  {app_url}/editor?prompt={g.prompt_id}"
        )


@train_app.command("cancel")
@user_errors
def train_cancel(job: Annotated[int, typer.Argument(help="Job id")]) -> None:
    """Cancel a job: at once if queued, after the step in progress if running."""
    from rubricforge.models.core.db import session_scope
    from rubricforge.models.core.status import Status
    from rubricforge.models.training.jobs import request_cancel

    with session_scope(_migrated_engine()) as s:
        status = request_cancel(s, job, actor=OPERATOR)
    typer.echo(
        f"job {job} cancelled"
        if status is Status.cancelled
        else f"job {job}: cancel requested; its worker stops after the current step"
    )


@train_app.command("list")
@user_errors
def train_list(limit: Annotated[int, typer.Option(min=1, help="Newest N jobs")] = 50) -> None:
    """Jobs, newest first: status, progress, attempts, worker, last error."""
    from rubricforge.models.core.db import session_scope
    from rubricforge.models.training.jobs import list_jobs

    with session_scope(_migrated_engine()) as s:
        jobs = list_jobs(s, limit=limit)
    if not jobs:
        typer.echo("no training jobs; queue one with `rubricforge train submit`")
        return
    typer.echo(f"{'id':>5}  {'status':9}  {'step':>9}  {'tries':5}  {'snapshot':24}  model / note")
    for j in jobs:
        step = f"{j.last_step or 0}/{j.max_steps}"
        tries = f"{j.attempts}/{j.max_attempts}"
        note = (j.error or "").splitlines()[0][:80] if j.error else (j.worker_id or "")
        typer.echo(
            f"{j.id:>5}  {j.status.value:9}  {step:>9}  {tries:5}  {j.snapshot_name[:24]:24}  "
            f"{j.base_model}  {note}".rstrip()
        )


@user_errors
def worker_cmd(
    once: Annotated[bool, typer.Option(help="Run at most one job, then exit")] = False,
    exit_when_idle: Annotated[bool, typer.Option(help="Exit when the queue is empty")] = False,
    worker_id: Annotated[str | None, typer.Option(help="Default: host-pid-random")] = None,
    lease_seconds: Annotated[
        float, typer.Option(min=1, help="A job is re-claimed this long after its worker died")
    ] = 120.0,
    heartbeat_seconds: Annotated[
        float | None, typer.Option(help="Lease renewal interval (default: a quarter of the lease)")
    ] = None,
    poll_interval: Annotated[float, typer.Option(min=0.1, help="Seconds between polls")] = 5.0,
    model: Annotated[
        list[str] | None,
        typer.Option(
            help="A model this worker runs: a hub id (Qwen/Qwen2.5-7B) or NAME=/local/folder; "
            "repeat it. Adds to RUBRICFORGE_MODELS."
        ),
    ] = None,
    runs_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where outputs go (default RUBRICFORGE_RUNS_DIR or RUBRICFORGE_HOME/runs)"
        ),
    ] = None,
) -> None:
    """Claim GRPO jobs from Postgres and train them. SIGTERM: stop after the current step,
    checkpoint, and give the job back to the queue."""
    import logging

    from rubricforge.models.training.worker_policy import WorkerPolicy
    from rubricforge.trainer.worker import Worker

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("rubricforge").setLevel(logging.INFO)
    worker = Worker(
        _migrated_engine(),
        worker_id,
        lease_seconds=lease_seconds,
        heartbeat_seconds=heartbeat_seconds,
        policy=WorkerPolicy.from_env(models=model or (), runs_dir=runs_dir),
    )
    worker.install_signal_handlers()
    typer.echo(f"worker {worker.worker_id} polling for jobs")
    ran = (
        int(worker.run_once())
        if once
        else worker.run_forever(poll_interval, exit_when_idle=exit_when_idle)
    )
    typer.echo(f"worker {worker.worker_id} stopped after {ran} job(s)")
