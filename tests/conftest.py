"""Test tiers share one real PostgreSQL server.

DATABASE_URL set: that server (CI also runs against the machine's own Postgres).
Unset: an embedded server in a temporary RUBRICFORGE_HOME, stopped at the end.
A template database is migrated once with the real Alembic migrations; each test
that needs a database gets a fresh clone of it (CREATE DATABASE ... TEMPLATE),
so the app, the CLI and workers under test can open their own connections.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from llm_server import llm_server  # noqa: F401  (the scripted LLM server fixture)
from rubricforge.models.core import migrate
from rubricforge.models.core.db import normalize_url
from rubricforge.models.core.embedded import EmbeddedServer
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from webapp_support import app_db, demo_app_db  # noqa: F401  (the app's database fixtures)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
_counter = itertools.count()


def _with_db(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _admin(url: str) -> psycopg.Connection:
    u = make_url(url)
    return psycopg.connect(
        host=u.host,
        port=u.port,
        user=u.username,
        password=u.password,
        dbname="postgres",
        autocommit=True,
    )


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of the server under test (database part is replaced per test)."""
    external = os.environ.get("DATABASE_URL")
    if external:
        yield normalize_url(external)
        return
    # Not under pytest's basetemp: a concurrent pytest run prunes old basetemps,
    # which would pull the data folder from under a running server.
    home = Path(tempfile.mkdtemp(prefix="rf-test-pg-"))
    server = EmbeddedServer(home)
    url = server.ensure_running()
    yield url
    server.stop()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def template_db(pg_url: str) -> Iterator[str]:
    name = f"rf_tpl_{os.getpid()}"
    with _admin(pg_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    migrate.upgrade(_with_db(pg_url, name))
    yield name
    with _admin(pg_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_url(pg_url: str, template_db: str) -> Iterator[str]:
    """A fresh, migrated database for this test, cloned from the template."""
    name = f"rf_t_{os.getpid()}_{next(_counter)}"
    with _admin(pg_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    yield _with_db(pg_url, name)
    with _admin(pg_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_db_url(pg_url: str) -> Iterator[str]:
    """An empty database (no migrations), for migration tests."""
    name = f"rf_e_{os.getpid()}_{next(_counter)}"
    with _admin(pg_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _with_db(pg_url, name)
    with _admin(pg_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = create_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def rar_sample() -> Path:
    path = SHARED_DATA / "rar_medicine_sample.jsonl"
    if not path.exists():  # shipped copy, for checkouts without ../shared
        path = REPO / "tests" / "data" / "rar_medicine_sample.jsonl"
    return path
