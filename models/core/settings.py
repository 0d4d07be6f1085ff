"""One typed settings object, read from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs


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

    @classmethod
    def from_env(cls) -> Settings:
        home = os.environ.get("RUBRICFORGE_HOME")
        return cls(
            database_url=os.environ.get("DATABASE_URL") or None,
            home=Path(home).expanduser().resolve() if home else default_home(),
        )
