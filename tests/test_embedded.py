"""The embedded server: started on demand, shared by several processes, and
left running for later commands until `rubricforge db stop`."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from rubricforge.models.core.db import resolve_url
from rubricforge.models.core.embedded import EmbeddedServer
from rubricforge.models.core.settings import Settings
from typer.testing import CliRunner

from rubricforge.cli import app

WRITER = """
import sys
from sqlalchemy import create_engine, text
from rubricforge.models.core.db import resolve_url
from rubricforge.models.core import migrate
url = resolve_url()
migrate.upgrade(url)
eng = create_engine(url)
with eng.begin() as conn:
    for i in range(50):
        conn.execute(text(
            "INSERT INTO audit_log (actor, action, entity, entity_id, details) "
            "VALUES (:a, 'write', 'test', :i, '{}')"), {"a": sys.argv[1], "i": str(i)})
print(url)
"""


@pytest.fixture
def home() -> Iterator[Path]:
    """A RUBRICFORGE_HOME in /tmp, not under pytest's basetemp: another pytest run
    makes the basetemp's parent 0700, which the server's OS user then cannot enter."""
    folder = Path(tempfile.mkdtemp(prefix="rf-test-home-"))
    yield folder / "home"
    shutil.rmtree(folder, ignore_errors=True)


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["RUBRICFORGE_HOME"] = str(home)
    return env


def test_two_processes_share_one_embedded_server(home: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, name],
            env=_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("proc-a", "proc-b")
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    server = EmbeddedServer(home)
    try:
        for p, (_out, err) in zip(procs, outs, strict=True):
            assert p.returncode == 0, err
        urls = {out.strip().splitlines()[-1] for out, _ in outs}
        assert len(urls) == 1, "both processes must reach the same server"

        # Both writers have exited; the server is still up for the next command.
        url = resolve_url(Settings(database_url=None, home=home))
        assert url in urls
        from sqlalchemy import create_engine, text

        eng = create_engine(url)
        with eng.connect() as conn:
            rows = conn.execute(
                text("SELECT actor, count(*) FROM audit_log GROUP BY actor ORDER BY actor")
            ).all()
        eng.dispose()
        assert [tuple(r) for r in rows] == [("proc-a", 50), ("proc-b", 50)]

        result = CliRunner().invoke(app, ["db", "stop"], env=_env(home))
        assert result.exit_code == 0 and "stopped" in result.output
        assert server.port() is None
    finally:
        server.stop()


def test_database_url_wins_over_embedded(tmp_path: Path, db_url: str) -> None:
    settings = Settings(
        database_url=db_url.replace("postgresql+psycopg://", "postgresql://"), home=tmp_path
    )
    assert resolve_url(settings) == db_url
    assert not (tmp_path / "pgdata").exists(), (
        "no embedded server may start when DATABASE_URL is set"
    )


def _connect(port: int, **kw: object) -> None:
    import psycopg

    psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", **kw).close()


def test_the_server_asks_every_client_for_its_secret(home: Path) -> None:
    import psycopg

    server = EmbeddedServer(home)
    try:
        url = server.ensure_running()
        port = server.port()
        assert port is not None
        secret = server.secret_file.read_text().strip()
        assert f"postgres:{secret}@127.0.0.1:{port}/" in url
        assert stat.S_IMODE(server.secret_file.stat().st_mode) == 0o600
        assert not server._trusts()
        with pytest.raises(psycopg.OperationalError, match="password"):
            _connect(port)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            _connect(port, password="guessed")
        _connect(port, password=secret)
        # Through the unix socket in the data folder too.
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(host=str(server.pgdata), port=port, user="postgres", dbname="postgres")
    finally:
        server.stop()


def test_a_data_folder_that_trusted_everyone_is_switched_to_passwords(home: Path) -> None:
    import psycopg

    server = EmbeddedServer(home)
    server.home.mkdir(parents=True)
    server._prepare_permissions()
    res = server._run(server._bin("initdb"), "-D", str(server.pgdata), "--auth=trust",
                      "-U", "postgres")  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert server._trusts(), "made as an older rubricforge did"
    try:
        url = server.ensure_running()
        assert not server._trusts()
        port = server.port()
        assert port is not None
        with pytest.raises(psycopg.OperationalError, match="password"):
            _connect(port)
        _connect(port, password=server.secret())
        assert url == server.url(port)
    finally:
        server.stop()


def test_stop_and_start_keep_the_url_unless_the_port_was_taken(home: Path) -> None:
    import socket

    server = EmbeddedServer(home)
    try:
        first = server.ensure_running()
        result = CliRunner().invoke(app, ["db", "stop"], env=_env(home))
        assert result.exit_code == 0 and "stopped" in result.output
        assert resolve_url(Settings(database_url=None, home=home)) == first, "same port"

        port = server.port()
        assert port is not None and server.saved_port() == port
        server.stop()
        with socket.socket() as squatter:  # another program took the port meanwhile
            # The closed connections of the stop above may leave the port in TIME_WAIT;
            # a listener may bind over those (as PostgreSQL itself does), not over a listener.
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", port))
            squatter.listen()
            moved = server.ensure_running()
        assert moved != first and server.saved_port() == server.port() != port
    finally:
        server.stop()


def test_a_running_client_follows_the_server_to_a_new_port(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from rubricforge.models.core.db import get_engine
    from sqlalchemy import text

    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("RUBRICFORGE_HOME", str(home))
    server = EmbeddedServer(home)
    try:
        engine = get_engine()  # as the app and a worker hold it
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
        old = server.port()
        assert old is not None
        server.stop()
        with socket.socket() as squatter:
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", old))
            squatter.listen()
            server.ensure_running()
            assert server.port() != old
            with engine.connect() as conn:  # same engine, the server's new port
                assert conn.execute(text("SELECT 1")).scalar() == 1
        engine.dispose()
    finally:
        server.stop()
