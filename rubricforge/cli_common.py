"""Pieces every CLI module shares: error display and the migrated engine."""

from __future__ import annotations

import functools
import logging
import os
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import click
import typer

from rubricforge.models.core.errors import RubricforgeError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from rubricforge.models.llm.config import EndpointConfig

F = TypeVar("F", bound=Callable[..., Any])


log = logging.getLogger("rubricforge.cli")

# Exit statuses: 1 a user's error (the message says what to fix), 70 our own failure
# (EX_SOFTWARE: the message gives an incident id, the traceback is in the log).
USER_ERROR, INTERNAL_ERROR = 1, 70


def incident_log() -> Path:
    """Where the CLI writes the tracebacks it does not show: RUBRICFORGE_HOME/logs."""
    from rubricforge.models.core.settings import Settings

    return Settings.from_env().home / "logs" / "cli.log"


def _log_incident(incident: str, command: str) -> str:
    """Append the current exception to the incident log; returns where it went."""
    path = incident_log()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f"--- incident {incident} in `rubricforge {command}`\n")
            fh.write(traceback.format_exc())
        return str(path)
    except OSError:
        log.exception("incident %s in `rubricforge %s`", incident, command)
        return "the log (stderr at debug level)"


def user_errors(fn: F) -> F:
    """The CLI's error boundary: a RubricforgeError is its message and exit 1; anything
    else is a short message with an incident id and exit 70, the traceback goes to the
    log. Never a traceback on the terminal (set RUBRICFORGE_DEBUG=1 to see one)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RubricforgeError as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(USER_ERROR) from None
        except (typer.Exit, typer.Abort, click.exceptions.Exit, click.Abort, click.ClickException):
            raise  # typer's own exits and usage errors (some are RuntimeError subclasses)
        except Exception:
            if os.environ.get("RUBRICFORGE_DEBUG"):
                raise
            incident = uuid.uuid4().hex[:12]
            where = _log_incident(incident, fn.__name__.removesuffix("_cmd"))
            typer.secho(
                f"error: an unexpected failure stopped this command (incident {incident}); "
                f"the details are in {where}. Run it again, or report the incident id.",
                fg=typer.colors.RED,
                err=True,
            )
            raise typer.Exit(INTERNAL_ERROR) from None

    wrapper.guarded = True  # type: ignore[attr-defined]  # tests check every command has it
    return wrapper  # type: ignore[return-value]


def migrated_engine() -> Engine:
    """The engine of DATABASE_URL or the embedded server, migrated to head first."""
    from rubricforge.models.core import migrate
    from rubricforge.models.core.db import get_engine, resolve_url

    url = resolve_url()
    migrate.upgrade(url)
    return get_engine(url)


EndpointName = Annotated[
    str | None,
    typer.Option(
        "--endpoint",
        help="Name of an endpoint the admin configured (Admin page); instead of --base-url, "
        "--model and --api-key-env. Without any of them: the only configured endpoint",
    ),
]
_WHERE = ("base_url", "model", "api_key_env")


def cli_endpoint(engine: Engine, name: str | None, **overrides: Any) -> EndpointConfig:
    """The endpoint a command calls: the admin's endpoint `name`; else the one given by
    --base-url/--model/--api-key-env or RUBRICFORGE_LLM_*; else, when the admin
    configured exactly one, that one. Other `overrides` (temperature, ...) apply on top."""
    from rubricforge.models.core.db import session_scope
    from rubricforge.models.llm.config import ENV_MODEL, EndpointConfig
    from rubricforge.models.llm.endpoints import get_endpoint, list_endpoints

    given = {k: v for k, v in overrides.items() if v is not None}
    where = {k: given.pop(k) for k in _WHERE if k in given}
    if name and where:
        raise RubricforgeError(
            "--endpoint names a configured endpoint: leave out --base-url, --model and "
            "--api-key-env (or leave out --endpoint)"
        )
    if not name and (where.get("model") or os.environ.get(ENV_MODEL)):
        return EndpointConfig.from_env(**where, **given)
    with session_scope(engine) as s:
        if name:
            config = get_endpoint(s, name).config()
        else:
            rows = list_endpoints(s)
            if len(rows) != 1:
                names = ", ".join(r.name for r in rows)
                hint = f"pass --endpoint with one of: {names}; or " if rows else "pass "
                raise RubricforgeError(
                    f"no model given: {hint}--model (or set {ENV_MODEL}); an admin can add "
                    "endpoints on the Admin page"
                )
            config = rows[0].config()
            typer.echo(
                f"using the configured endpoint {rows[0].name}: {config.describe()}", err=True
            )
    return config.model_copy(update=given) if given else config
