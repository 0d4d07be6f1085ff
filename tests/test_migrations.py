"""Migrations: the real Alembic revisions walk up and down on real Postgres, and
the models and the migrations describe the same schema."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from rubricforge.models.core import migrate
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

from rubricforge import models


def _tables(url: str) -> set[str]:
    eng = create_engine(url)
    try:
        return set(inspect(eng).get_table_names()) - {"alembic_version"}
    finally:
        eng.dispose()


def test_upgrade_downgrade_upgrade_round_trip(empty_db_url: str) -> None:
    expected = set(models.Base.metadata.tables)
    assert _tables(empty_db_url) == set()

    migrate.upgrade(empty_db_url)
    assert _tables(empty_db_url) == expected

    migrate.downgrade(empty_db_url, "base")
    assert _tables(empty_db_url) == set()

    migrate.upgrade(empty_db_url)
    assert _tables(empty_db_url) == expected


def test_models_and_migrations_do_not_differ(db_url: str) -> None:
    eng = create_engine(db_url)
    try:
        with eng.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), models.Base.metadata)
    finally:
        eng.dispose()
    assert diff == [], f"models and migrations differ; write a migration: {diff}"


def test_single_head() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config("postgresql://unused"))
    assert len(script.get_heads()) == 1


def test_audit_log_is_append_only(db_url: str) -> None:
    eng = create_engine(db_url)
    try:
        with eng.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO audit_log (actor, action, entity, entity_id, details) "
                    "VALUES ('t', 'create', 'x', '1', '{}')"
                )
            )
        for stmt in ("UPDATE audit_log SET actor = 'forged'", "DELETE FROM audit_log"):
            with pytest.raises(DBAPIError, match="append-only"), eng.begin() as conn:
                conn.execute(text(stmt))
        with eng.connect() as conn:
            assert conn.execute(text("SELECT actor FROM audit_log")).scalar_one() == "t"
    finally:
        eng.dispose()
