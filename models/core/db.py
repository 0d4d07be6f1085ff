"""Engines and sessions. One place decides which database we talk to."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from rubricforge.models.core.embedded import EmbeddedServer
from rubricforge.models.core.settings import Settings
from rubricforge.models.core.text_safety import install_safety_net
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

# Every connection this process makes stores U+FFFD where a NUL slipped past the
# boundaries (`models.core.text_safety`) instead of failing the whole write.
install_safety_net()


def normalize_url(url: str) -> str:
    """Use psycopg 3 for plain postgres:// and postgresql:// URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def resolve_url(settings: Settings | None = None) -> str:
    """DATABASE_URL when set; otherwise the embedded server, started on demand."""
    settings = settings or Settings.from_env()
    if settings.database_url:
        return normalize_url(settings.database_url)
    return EmbeddedServer(settings.home).ensure_running()


@lru_cache(maxsize=8)
def _engine_for(url: str, statement_timeout_ms: int = 0) -> Engine:
    # PostgreSQL cancels any statement of these connections that runs longer
    # (0: never), so one costly query cannot hold the server for everyone.
    # JIT off: our statements run in 0.01-1 s, where compiling them costs more than it
    # saves (at 20k prompts the search with a tag and status ran 0.65 s with JIT, 0.5 s
    # without; the agreement dashboard's read of 37,000 pairs was no faster with it).
    options = "-c jit=off"
    if statement_timeout_ms:
        options += f" -c statement_timeout={statement_timeout_ms}"
    connect_args = {"options": options}
    engine = create_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=10, connect_args=connect_args
    )
    _follow_embedded_port(engine, url)
    return engine


def _follow_embedded_port(engine: Engine, url: str) -> None:
    """For the embedded server of RUBRICFORGE_HOME (a URL with its password): each new
    connection goes to the port the server listens on now. It keeps its port across
    restarts, but moves when another program took it; running clients follow."""
    settings = Settings.from_env()
    if settings.database_url:
        return
    server = EmbeddedServer(settings.home)
    try:
        secret = server.secret_file.read_text().strip()
    except OSError:
        return
    if not secret or make_url(url).password != secret:
        return

    @event.listens_for(engine, "do_connect")
    def _current_port(dialect, conn_rec, cargs, cparams) -> None:  # type: ignore[no-untyped-def]
        port = server.port()
        if port is not None:
            cparams["port"] = port


def get_engine(url: str | None = None, *, statement_timeout_s: float = 0) -> Engine:
    """The engine (pool) of `url` or of the embedded server; statements on its
    connections are cancelled after `statement_timeout_s` seconds (0: no limit)."""
    resolved = normalize_url(url) if url else resolve_url()
    return _engine_for(resolved, round(statement_timeout_s * 1000))


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One session per unit of work, committed at the end or rolled back on error."""
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session
