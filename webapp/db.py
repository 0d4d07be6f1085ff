"""The app's one database handle, and session helpers that turn errors into messages.

The engine (a connection pool) is cached per process; sessions and ORM objects
never are: every query opens its own short session, every write its own unit of work.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from psycopg.errors import QueryCanceled
from rubricforge.models.core.db import get_engine
from rubricforge.models.core.errors import RubricforgeError
from rubricforge.models.core.settings import Settings
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session


@st.cache_resource(show_spinner=False)
def engine() -> Engine:
    """DATABASE_URL when set, else the embedded server of RUBRICFORGE_HOME (whose port
    each new connection re-reads, see models.core.db). For the services that do bulk
    work themselves (imports, snapshots, judge runs): no statement timeout."""
    url = os.environ.get("DATABASE_URL")
    return get_engine(url) if url else get_engine()


@st.cache_resource(show_spinner=False)
def session_engine() -> Engine:
    """The same database for the pages' own sessions, whose statements PostgreSQL
    cancels after Settings.statement_timeout_s (a page never waits on one for long)."""
    timeout = Settings.from_env().statement_timeout_s
    return get_engine(os.environ.get("DATABASE_URL") or None, statement_timeout_s=timeout)


@contextmanager
def read_session() -> Iterator[Session]:
    """A short read session. A user's error or an unreachable or unmigrated database
    is shown as a message and stops the page, never as a traceback."""
    try:
        with _database_errors(), Session(session_engine()) as session:
            yield session
    except RubricforgeError as exc:
        st.error(str(exc))
        st.stop()


@contextmanager
def write_session() -> Iterator[Session]:
    """One unit of work: committed at the end, rolled back on any error. A user's
    error (RubricforgeError) propagates, so the page can say what to fix and keep
    the user's input; an unreachable database stops the page with a message."""
    with _database_errors(), Session(session_engine()) as session, session.begin():
        yield session


@contextmanager
def _database_errors() -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        if isinstance(exc.orig, QueryCanceled):
            seconds = Settings.from_env().statement_timeout_s
            st.error(
                f"The database stopped this request after {seconds:g} s. Narrow the filters "
                "or the search and try again; nothing was changed.",
                icon=":material/timer_off:",
            )
            st.stop()
        st.error(
            f"Cannot reach the database ({exc.orig}). Start the app with `rubricforge serve`, "
            "or set DATABASE_URL to a running PostgreSQL server."
        )
        st.stop()
    except ProgrammingError as exc:
        st.error(
            f"The database is not ready ({exc.orig}). Run `rubricforge db upgrade` and reload."
        )
        st.stop()
