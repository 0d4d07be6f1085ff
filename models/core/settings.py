"""One typed settings object, read from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs
from rubricforge.models.core.errors import InvalidInputError


def default_home() -> Path:
    """Where the embedded database lives when RUBRICFORGE_HOME is unset.

    As root we stay out of /root: the embedded server runs as an unprivileged
    user and would have to open read access on every parent folder.
    """
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/rubricforge")
    return platformdirs.user_data_path("rubricforge")


@dataclass(frozen=True)
class Settings:
    database_url: str | None = field(
        default=None, metadata={"help": "External Postgres URL; unset = embedded server."}
    )
    home: Path = field(
        default_factory=default_home,
        metadata={"help": "Folder for the embedded database and local files."},
    )

    statement_timeout_s: float = field(
        default=10.0,
        metadata={
            "help": "Seconds one statement of the web app may run before PostgreSQL cancels "
            "it (0: no limit); bulk imports, exports and CLI commands have none."
        },
    )

    @classmethod
    def from_env(cls) -> Settings:
        home = os.environ.get("RUBRICFORGE_HOME")
        timeout = os.environ.get("RUBRICFORGE_STATEMENT_TIMEOUT_S", "").strip()
        return cls(
            database_url=os.environ.get("DATABASE_URL") or None,
            home=Path(home).expanduser().resolve() if home else default_home(),
            statement_timeout_s=_seconds("RUBRICFORGE_STATEMENT_TIMEOUT_S", timeout, 10.0),
        )


def _seconds(name: str, raw: str, default: float) -> float:
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 3600:
        raise InvalidInputError(f"{name} must be a number of seconds from 0 to 3600, not {raw!r}")
    return value
