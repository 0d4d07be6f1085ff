"""The embedded server: started on demand, shared by several processes, and
left running for later commands until `rubricforge db stop`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["RUBRICFORGE_HOME"] = str(home)
    return env


def test_two_processes_share_one_embedded_server(tmp_path: Path) -> None:
    home = tmp_path / "home"
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
