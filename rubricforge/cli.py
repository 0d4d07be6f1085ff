"""`rubricforge` CLI (typer). Commands are thin: they call the same services the
app and the tests call, and print a user's error as one clear message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from rubricforge.models.accounts.permissions import OPERATOR

from .cli_common import migrated_engine, user_errors
from .judge_cli import generate_cmd, judge_cmd, responses_app

app = typer.Typer(
    help="rubricforge: rubrics as rewards, from expert to GRPO.", no_args_is_help=True
)
db_app = typer.Typer(
    help="Database: migrate, inspect, stop the embedded server.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(responses_app, name="responses")
app.command("generate")(generate_cmd)
app.command("judge")(judge_cmd)


def _engine():  # noqa: ANN202 - sqlalchemy Engine
    from rubricforge.models.core.db import get_engine

    return get_engine()


_migrated_engine = migrated_engine


@db_app.command("upgrade")
@user_errors
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    from rubricforge.models.core import migrate
    from rubricforge.models.core.db import resolve_url

    migrate.upgrade(resolve_url(), revision)
    typer.echo(f"database at {revision}")


@db_app.command("downgrade")
@user_errors
def db_downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. base")) -> None:
    """Revert migrations down to REVISION."""
    from rubricforge.models.core import migrate
    from rubricforge.models.core.db import resolve_url

    migrate.downgrade(resolve_url(), revision)
    typer.echo(f"database at {revision}")


@db_app.command("url")
@user_errors
def db_url() -> None:
    """Print the database URL (starting the embedded server if needed)."""
    from rubricforge.models.core.db import resolve_url

    typer.echo(resolve_url())


@db_app.command("stop")
@user_errors
def db_stop() -> None:
    """Stop the embedded PostgreSQL server of RUBRICFORGE_HOME."""
    from rubricforge.models.core.embedded import EmbeddedServer
    from rubricforge.models.core.settings import Settings

    settings = Settings.from_env()
    stopped = EmbeddedServer(settings.home).stop()
    typer.echo("stopped" if stopped else f"no embedded server running in {settings.home}")


@app.command("import")
@user_errors
def import_cmd(
    path: Annotated[
        Path, typer.Argument(help="JSONL, CSV or Parquet file (RaR or HealthBench rows)")
    ],
    dataset: Annotated[str, typer.Option(help="Dataset to import into (created if new)")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what the import would do; write nothing")
    ] = False,
    replace_curated: Annotated[
        bool,
        typer.Option(
            "--replace-curated",
            help="Replace rubrics an expert edited or approved with the file's (a new draft "
            "version; the approved one stays exportable until re-approved)",
        ),
    ] = False,
) -> None:
    """Import prompts, reference answers and rubrics. All or nothing; curated
    rubrics that differ from the file are reported and left alone."""
    from rubricforge.models.data.importer import import_file

    result = import_file(
        _migrated_engine(),
        path,
        dataset,
        actor=OPERATOR,
        progress=True,
        dry_run=dry_run,
        replace_curated=replace_curated,
    )
    typer.echo(result.summary())


@app.command("export")
@user_errors
def export_cmd(
    out: Annotated[Path, typer.Option(help="Folder to write the snapshot's files into")],
    dataset: Annotated[str | None, typer.Option(help="Only this dataset")] = None,
    tag: Annotated[str | None, typer.Option(help="Only prompts with this tag")] = None,
    approved_since: Annotated[str | None, typer.Option(help="ISO date: approved on/after")] = None,
    approved_until: Annotated[str | None, typer.Option(help="ISO date: approved before")] = None,
    name: Annotated[str | None, typer.Option(help="Snapshot name (default: generated)")] = None,
    snapshot: Annotated[
        int | None, typer.Option(help="Re-write an existing snapshot by id")
    ] = None,
    formats: Annotated[
        str, typer.Option(help="Comma list of jsonl,hf,trl,verl")
    ] = "jsonl,hf,trl,verl",
) -> None:
    """Freeze approved rubrics into an immutable, hashed snapshot and write it out."""
    from rubricforge.models.core.errors import ExportError
    from rubricforge.models.data.export_formats import check_formats, check_target
    from rubricforge.models.data.exporter import ExportFilter, create_snapshot, write_snapshot

    chosen = check_formats(formats.split(","))
    engine = _migrated_engine()
    created = snapshot is None
    if snapshot is None:
        flt = ExportFilter.parse(
            dataset=dataset, tag=tag, approved_since=approved_since, approved_until=approved_until
        )
        # A folder we may not write (read-only, not ours) is refused before anything is frozen.
        check_target(out)
        info = create_snapshot(engine, flt, name=name, actor=OPERATOR)
        snapshot = info.id
        typer.echo(
            f"snapshot {info.id} '{info.name}': {info.row_count} rubrics, sha256 {info.sha256}"
        )
    try:
        paths = write_snapshot(engine, snapshot, out, formats=chosen)
    except ExportError as exc:
        if not created:
            raise
        # E.g. the disk filled up: the snapshot is whole in the database; only its files are not.
        raise ExportError(
            f"{exc}. Snapshot {snapshot} itself is saved; once that is fixed, write its files "
            f"with: rubricforge export --snapshot {snapshot} --out {out}"
        ) from None
    for fmt, p in paths.items():
        typer.echo(f"{fmt:6s} {p}")


DemoPassword = Annotated[
    str | None,
    typer.Option(
        "--demo-password",
        envvar="RUBRICFORGE_DEMO_PASSWORD",
        help="Password of the demo accounts it adds (default: a random one, printed once)",
        show_default=False,
    ),
]


@app.command("demo")
@user_errors
def demo_cmd(demo_password: DemoPassword = None) -> None:
    """Load the demo dataset (idempotent): prompts, rubrics in every status, verdicts, labels."""
    from rubricforge.models.demo.loader import load_demo

    typer.echo(load_demo(_migrated_engine(), password=demo_password))


@app.command("serve")
@user_errors
def serve_cmd(
    port: Annotated[int, typer.Option(help="HTTP port")] = 8501,
    address: Annotated[str, typer.Option(help="Bind address")] = "127.0.0.1",
    demo: Annotated[bool, typer.Option(help="Load the demo data first")] = False,
    demo_password: DemoPassword = None,
) -> None:
    """Migrate the database, then start the Streamlit app."""
    from rubricforge.models.core.db import resolve_url

    url = resolve_url()
    from rubricforge.models.core import migrate

    migrate.upgrade(url)
    if demo:
        from rubricforge.models.core.db import get_engine
        from rubricforge.models.demo.loader import load_demo

        typer.echo(load_demo(get_engine(url), password=demo_password))
    from rubricforge import webapp
    from rubricforge.models.data.files import MAX_UPLOAD_MB

    # server.py: the app plus the routes that set the HttpOnly session cookie.
    entry = Path(webapp.__file__).with_name("server.py")
    # The embedded server's URL is not handed down: the app resolves it itself, and so
    # follows the server should it move to another port (models.core.db).
    env = dict(os.environ)
    typer.echo(f"rubricforge on http://{address}:{port}")
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(entry),
        "--server.port",
        str(port),
        "--server.address",
        address,
        *STREAMLIT_OPTIONS,
        "--server.maxUploadSize",
        str(MAX_UPLOAD_MB),
    ]
    raise typer.Exit(subprocess.call(cmd, env=env))


# How `serve` runs Streamlit (the browser tests run it the same way): no browser of its
# own, no usage statistics, and the viewer toolbar (no Deploy or developer options).
STREAMLIT_OPTIONS = (
    "--server.headless",
    "true",
    "--browser.gatherUsageStats",
    "false",
    "--client.toolbarMode",
    "viewer",
    # A safety net behind the app's own error boundary (webapp/components/boundary.py).
    "--client.showErrorDetails",
    "none",
)


user_app = typer.Typer(
    help="Accounts: add, change password, disable, unlock, list.", no_args_is_help=True
)
app.add_typer(user_app, name="user")

PasswordOption = Annotated[
    str,
    typer.Option(
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        envvar="RUBRICFORGE_PASSWORD",
        help="Asked for when not given (never echoed); or set RUBRICFORGE_PASSWORD.",
    ),
]


@user_app.command("add")
@user_errors
def user_add(
    username: str,
    role: Annotated[str, typer.Option(help="admin, expert, annotator or researcher")],
    password: PasswordOption,
    display_name: Annotated[str, typer.Option(help="Name shown in the app")] = "",
) -> None:
    """Create an account (the first admin is made this way)."""
    from rubricforge.models.accounts.auth import add_user
    from rubricforge.models.accounts.permissions import OPERATOR
    from rubricforge.models.core.db import session_scope

    with session_scope(_migrated_engine()) as session:
        user = add_user(
            session, username, role, password, actor=OPERATOR, display_name=display_name
        )
    typer.echo(f"added {user.username} ({user.role.value})")


@user_app.command("passwd")
@user_errors
def user_passwd(username: str, password: PasswordOption) -> None:
    """Set a new password for USERNAME."""
    from rubricforge.models.accounts.auth import set_password
    from rubricforge.models.accounts.permissions import OPERATOR
    from rubricforge.models.core.db import session_scope

    with session_scope(_migrated_engine()) as session:
        set_password(session, username, password, actor=OPERATOR)
    typer.echo(f"password changed for {username.strip().lower()}")


@user_app.command("disable")
@user_errors
def user_disable(username: str) -> None:
    """Stop USERNAME from signing in; their work and history stay."""
    from rubricforge.models.accounts.auth import disable_user
    from rubricforge.models.accounts.permissions import OPERATOR
    from rubricforge.models.core.db import session_scope

    with session_scope(_migrated_engine()) as session:
        changed = disable_user(session, username, actor=OPERATOR)
    typer.echo(f"{'disabled' if changed else 'already disabled:'} {username.strip().lower()}")


@user_app.command("enable")
@user_errors
def user_enable(username: str) -> None:
    """Let a disabled USERNAME sign in again."""
    from rubricforge.models.accounts.auth import enable_user
    from rubricforge.models.accounts.permissions import OPERATOR
    from rubricforge.models.core.db import session_scope

    with session_scope(_migrated_engine()) as session:
        changed = enable_user(session, username, actor=OPERATOR)
    typer.echo(f"{'enabled' if changed else 'already enabled:'} {username.strip().lower()}")


@user_app.command("unlock")
@user_errors
def user_unlock(username: str) -> None:
    """Clear USERNAME's lock after too many failed sign-ins."""
    from rubricforge.models.accounts.permissions import OPERATOR
    from rubricforge.models.accounts.throttle import unlock
    from rubricforge.models.core.db import session_scope

    with session_scope(_migrated_engine()) as session:
        cleared = unlock(session, username, actor=OPERATOR)
    name = username.strip().lower()
    typer.echo(f"unlocked {name}" if cleared else f"{name} was not locked")


@user_app.command("list")
@user_errors
def user_list() -> None:
    """List accounts with their role and whether they can sign in."""
    from rubricforge.models.accounts.auth import list_users
    from rubricforge.models.core.db import session_scope

    with session_scope(_migrated_engine()) as session:
        users = list_users(session)
    for u in users:
        state = "active" if u.is_active else "disabled"
        typer.echo(f"{u.username:24s} {u.role.value:11s} {state:9s} {u.display_name}")


@app.command("draft")
@user_errors
def draft_cmd(
    dataset: Annotated[str, typer.Option(help="Dataset whose prompts to draft rubrics for")],
    concurrency: Annotated[int, typer.Option(min=1, help="LLM requests in flight")] = 8,
    base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible base URL (env RUBRICFORGE_LLM_BASE_URL)")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model (env RUBRICFORGE_LLM_MODEL)")] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option(
            help="NAME of the variable holding the API key, 'none' for no key "
            "(env RUBRICFORGE_LLM_API_KEY_ENV; default OPENAI_API_KEY)"
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=0, help="Draft at most this many")] = None,
    structured_outputs: Annotated[
        bool, typer.Option(help="Ask for a JSON schema (off: plain JSON mode)")
    ] = True,
) -> None:
    """Draft rubrics with an LLM for every prompt not yet drafted by this template and model."""
    from rubricforge.models.llm.client import EndpointConfig
    from rubricforge.models.rubrics.drafting import draft_dataset

    endpoint = EndpointConfig.from_env(
        base_url=base_url,
        model=model,
        api_key_env=api_key_env,
        structured_outputs=structured_outputs,
    )
    report = draft_dataset(
        _migrated_engine(), dataset, endpoint, concurrency=concurrency, progress=True, limit=limit
    )
    typer.echo(report.summary())
    if report.failures:
        raise typer.Exit(1)


# --- training: jobs and the worker --------------------------------------------------------

train_app = typer.Typer(
    help="GRPO training jobs: submit, preview rewards, cancel, list.", no_args_is_help=True
)
app.add_typer(train_app, name="train")


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
        float, typer.Option(help="Agreement gate: lowest judge-vs-human Cohen's kappa")
    ] = 0.6,
    min_labels: Annotated[
        int, typer.Option(help="Agreement gate: fewest labelled spot-check items")
    ] = 30,
) -> None:
    """Validate a GRPO job config, check the judge's agreement with the snapshot's
    spot-checks, and queue the job for a trainer worker."""
    from rubricforge.models.core.db import session_scope
    from rubricforge.models.training.config_files import apply_overrides, load_config_file
    from rubricforge.models.training.gate import GatePolicy
    from rubricforge.models.training.jobs import get_job, submit_job

    data = apply_overrides(load_config_file(config) if config else {}, set_ or [])
    gate = GatePolicy(min_kappa=min_kappa, min_labels=min_labels)
    engine = _migrated_engine()
    with session_scope(engine) as s:
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
    agreement = job.provenance["agreement"]
    kappa = "undefined" if agreement["kappa"] is None else f"{agreement['kappa']:.2f}"
    typer.echo(f"agreement: kappa {kappa} over {agreement['n_items']} labelled item(s)")
    if agreement["override"]:
        typer.echo(f"override: {agreement['override']['reason']}")


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
    k: Annotated[int, typer.Option(help="Completions per prompt (GRPO's group size)")] = 8,
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
    typer.echo(f"rewards: mean {mean:.3f}; judge failures (fallback reward): {p.judge_failures}")
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


@app.command("worker")
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


if __name__ == "__main__":
    app()
