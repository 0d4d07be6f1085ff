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

from .cli_common import EndpointName, cli_endpoint, migrated_engine, user_errors
from .eval_cli import eval_app
from .judge_cli import generate_cmd, judge_cmd, responses_app
from .train_cli import train_app, worker_cmd
from .user_cli import user_app

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
def demo_cmd(
    demo_password: DemoPassword = None,
    reset_password: Annotated[
        bool,
        typer.Option(
            "--reset-password",
            help="Set a new password on the demo accounts and print it (the first one is "
            "stored only as hashes and cannot be shown again); signs them out everywhere",
        ),
    ] = False,
) -> None:
    """Load the demo dataset (idempotent): prompts, rubrics in every status, verdicts, labels."""
    if reset_password:
        from rubricforge.models.demo.password import password_block, reset_demo_password

        names, password = reset_demo_password(_migrated_engine(), demo_password)
        typer.echo(
            "New password set for the demo accounts." + "\n" + password_block(names, password)
        )
        return
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


@app.command("draft")
@user_errors
def draft_cmd(
    dataset: Annotated[str, typer.Option(help="Dataset whose prompts to draft rubrics for")],
    concurrency: Annotated[int, typer.Option(min=1, help="LLM requests in flight")] = 8,
    endpoint_name: EndpointName = None,
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
    from rubricforge.models.rubrics.drafting import draft_dataset

    engine = _migrated_engine()
    endpoint = cli_endpoint(
        engine,
        endpoint_name,
        base_url=base_url,
        model=model,
        api_key_env=api_key_env,
        structured_outputs=None if structured_outputs else False,
    )
    report = draft_dataset(
        engine, dataset, endpoint, concurrency=concurrency, progress=True, limit=limit
    )
    typer.echo(report.summary())
    if report.failures:
        raise typer.Exit(1)


# --- training: jobs and the worker --------------------------------------------------------

app.add_typer(user_app, name="user")
app.add_typer(train_app, name="train")
app.command("worker")(worker_cmd)
app.add_typer(eval_app, name="eval")


if __name__ == "__main__":
    app()
