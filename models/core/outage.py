"""A database out of reach for a while (a restart, a failover) told apart from
a real error, and ridden out with backoff by the callers that can wait."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

T = TypeVar("T")


def unreachable(exc: BaseException) -> bool:
    """Whether a database error means the server is (for now) out of reach: refused or
    dropped connections, a server shutting down or starting up."""
    return isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def first_line(exc: BaseException) -> str:
    """The driver's message, first line only (no SQL, no parameters)."""
    inner = exc.orig if isinstance(exc, DBAPIError) else exc
    return ((str(inner) or type(inner).__name__).strip().splitlines() or [""])[0]


def retrying(what: str, call: Callable[[], T], seconds: float, log: logging.Logger) -> T:
    """`call()`, again with backoff while the database is unreachable, for up to
    `seconds`; then the last error is raised. Other errors are raised at once."""
    deadline = time.monotonic() + seconds
    delay = 0.2
    while True:
        try:
            return call()
        except DBAPIError as exc:
            if not unreachable(exc) or time.monotonic() + delay > deadline:
                raise
            log.warning(
                "%s: database unreachable (%s); retrying in %.1f s", what, first_line(exc), delay
            )
        time.sleep(delay)
        delay = min(delay * 2, 5.0)
