"""Pieces every CLI module shares: error display and the migrated engine."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from rubricforge.models.core.errors import RubricforgeError

if TYPE_CHECKING:
    from sqlalchemy import Engine

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(fn: F) -> F:
    """Show RubricforgeError as a message and exit 1, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RubricforgeError as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def migrated_engine() -> Engine:
    """The engine of DATABASE_URL or the embedded server, migrated to head first."""
    from rubricforge.models.core import migrate
    from rubricforge.models.core.db import get_engine, resolve_url

    url = resolve_url()
    migrate.upgrade(url)
    return get_engine(url)
