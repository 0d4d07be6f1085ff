"""No traceback ever reaches a user, on a page or on the CLI. Each hostile
input gets a clear message, changes nothing, and the detail (if any) goes to a log."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import typer
from rubricforge.models.core.db import get_engine
from rubricforge.models.core.errors import InvalidInputError
from rubricforge.models.core.limits import MAX_SEARCH, cap_text, search_text
from rubricforge.models.data.orm import ExportSnapshot
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import OperationalError
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner
from webapp_support import add_account, app_as, values

from rubricforge.cli import app
from rubricforge.cli_common import INTERNAL_ERROR, user_errors

pytestmark = pytest.mark.db

DEEP = "[" * 100_000 + "]" * 100_000


def no_traceback(at: AppTest) -> None:
    assert not at.exception, at.exception
    for kind in ("error", "warning", "info", "markdown", "caption", "text", "code"):
        for v in values(at, kind):
            assert "Traceback" not in str(v) and ".py" not in str(v), (kind, v)


def expert(app_db: str) -> int:
    return add_account(app_db, "ed", "expert")


# --- pages -------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["99999999999999999999", "-3", "0", "1e5", "abc", "١٢"])
def test_a_bad_prompt_id_in_the_url_is_a_message(demo_app_db: str, raw: str) -> None:
    at = app_as(expert(demo_app_db), query={"prompt": raw})
    at.switch_page("views/editor.py").run()
    no_traceback(at)
    assert any("is not a prompt id" in str(e) for e in values(at, "error")), values(at, "error")


def test_a_nul_in_search_is_a_message(demo_app_db: str) -> None:
    at = app_as(expert(demo_app_db), "views/prompts.py")
    next(w for w in at.text_input if w.label == "Search").set_value("fever\x00")
    at.run()
    no_traceback(at)
    assert any("control character" in str(e) for e in values(at, "error")), values(at, "error")


def test_the_search_box_caps_its_length(demo_app_db: str) -> None:
    at = app_as(expert(demo_app_db), "views/prompts.py")
    box = next(w for w in at.text_input if w.label == "Search")
    assert box.max_chars == MAX_SEARCH
    box.set_value("x" * 50_000)
    at.run()
    no_traceback(at)
    box = next(w for w in at.text_input if w.label == "Search")
    assert len(box.value) == MAX_SEARCH  # the box keeps only what the service accepts


def test_list_prompts_refuses_a_long_search(demo_app_db: str) -> None:
    from rubricforge.models.rubrics.browse import list_prompts, status_counts
    from sqlalchemy.orm import Session

    with Session(get_engine(demo_app_db)) as session:
        for call in (list_prompts, status_counts):
            with pytest.raises(InvalidInputError, match=f"shorten it to {MAX_SEARCH}"):
                call(session, text="x" * 50_000)


def _crashing_page() -> None:
    from rubricforge.webapp.components.boundary import run_guarded

    def page() -> None:
        raise KeyError("/srv/secret/path.py")

    run_guarded(page, "Crash")


def _refusing_page() -> None:
    from rubricforge.models.core.errors import InvalidInputError
    from rubricforge.webapp.components.boundary import run_guarded

    def page() -> None:
        raise InvalidInputError("Give a name.")

    run_guarded(page, "Refuse")


def test_an_unexpected_error_shows_an_incident_id_and_logs_the_detail(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="rubricforge.webapp"):
        at = AppTest.from_function(_crashing_page).run()
    no_traceback(at)
    [message] = values(at, "error")
    assert "incident id" in message and "secret" not in message
    incident = message.split("incident id ")[1].split(" ")[0]
    logged = [r for r in caplog.records if incident in r.getMessage()]
    assert logged and logged[0].exc_info is not None  # the traceback is in the server log


def test_a_users_error_the_page_left_unhandled_shows_its_message() -> None:
    at = AppTest.from_function(_refusing_page).run()
    no_traceback(at)
    assert values(at, "error") == ["Give a name."]


def _slow_page() -> None:
    from rubricforge.webapp.db import read_session
    from sqlalchemy import text

    with read_session() as session:
        session.execute(text("SELECT pg_sleep(5)"))
    import streamlit as st

    st.write("finished")


def test_a_statement_past_the_timeout_is_stopped_with_a_message(
    app_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUBRICFORGE_STATEMENT_TIMEOUT_S", "0.3")
    at = AppTest.from_function(_slow_page, default_timeout=30).run()
    no_traceback(at)
    assert any("stopped this request after 0.3 s" in str(e) for e in values(at, "error"))
    assert "finished" not in values(at, "markdown")


def test_the_app_engine_has_a_statement_timeout_and_the_bulk_engine_none(db_url: str) -> None:
    limited = get_engine(db_url, statement_timeout_s=0.2)
    with limited.connect() as conn:
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "200ms"
        assert conn.execute(text("SHOW jit")).scalar() == "off"  # see models/core/db.py
        with pytest.raises(OperationalError, match="statement timeout"):
            conn.execute(text("SELECT pg_sleep(2)"))
    with get_engine(db_url).connect() as conn:
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "0"
        assert conn.execute(text("SHOW jit")).scalar() == "off"


def test_a_bad_timeout_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from rubricforge.models.core.settings import Settings

    for bad in ("soon", "-1", "99999"):
        monkeypatch.setenv("RUBRICFORGE_STATEMENT_TIMEOUT_S", bad)
        with pytest.raises(InvalidInputError, match="RUBRICFORGE_STATEMENT_TIMEOUT_S"):
            Settings.from_env()
    monkeypatch.setenv("RUBRICFORGE_STATEMENT_TIMEOUT_S", "2.5")
    assert Settings.from_env().statement_timeout_s == 2.5


# --- pure limits ---------------------------------------------------------------


def test_search_text() -> None:
    assert search_text(None) is None and search_text("   ") is None
    assert search_text("  fever ") == "fever"
    assert search_text("x" * MAX_SEARCH) == "x" * MAX_SEARCH
    for bad in ("x" * (MAX_SEARCH + 1), "a\x00b", "tab\there"):
        with pytest.raises(InvalidInputError):
            search_text(bad)


def test_cap_text() -> None:
    assert cap_text("short", 10) == "short"
    capped = cap_text("y" * 10_000, 4000)
    assert 3900 < len(capped) <= 4000 and capped.startswith("y" * 3000)
    assert capped.endswith("characters]") and "truncated" in capped
    assert str(10_000 - capped.index(" …")) in capped  # says how much was dropped


# --- CLI -----------------------------------------------------------------------


def test_export_refuses_the_current_folder_and_its_parents(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "work"
    here.mkdir()
    (here / "rar.jsonl").write_text("")  # looks like an export: still never replaced
    monkeypatch.chdir(here)
    runner = CliRunner()
    for out in (".", "..", str(here), "/"):
        result = runner.invoke(app, ["export", "--out", out], env={"DATABASE_URL": db_url})
        assert result.exit_code == 1, result.output
        assert "current folder or one above it" in result.output, result.output
        assert "Traceback" not in result.output
    assert [p.name for p in here.iterdir()] == ["rar.jsonl"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ExportSnapshot)).scalar() == 0


def test_import_of_deeply_nested_json_names_the_line(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "deep.jsonl"
    good = {"prompt_id": "p1", "question": "Q?", "rubric": []}
    path.write_text(json.dumps(good) + "\n" + DEEP + "\n")
    result = CliRunner().invoke(
        app, ["import", str(path), "--dataset", "deep"], env={"DATABASE_URL": db_url}
    )
    assert result.exit_code == 1, result.output
    assert "line 2: nested too deeply" in result.output
    assert "Traceback" not in result.output


def test_every_cli_command_is_behind_the_error_boundary() -> None:
    def commands(t: typer.Typer) -> list[object]:
        found = [c.callback for c in t.registered_commands]
        for group in t.registered_groups:
            assert group.typer_instance is not None
            found += commands(group.typer_instance)
        return found

    found = commands(app)
    assert len(found) > 10
    unguarded = [f for f in found if not getattr(f, "guarded", False)]
    assert not unguarded, unguarded


def test_an_unexpected_cli_failure_is_a_short_message_and_a_logged_incident(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUBRICFORGE_HOME", str(tmp_path))
    monkeypatch.delenv("RUBRICFORGE_DEBUG", raising=False)
    crash = typer.Typer()

    @crash.command()
    @user_errors
    def boom_cmd() -> None:
        {}["/srv/secret/path.py"]  # noqa: B018  # a real KeyError, as a bug would raise

    @crash.command()
    def other() -> None:  # a second command, so typer keeps subcommand names
        pass

    result = CliRunner().invoke(crash, ["boom-cmd"])
    assert result.exit_code == INTERNAL_ERROR
    assert "incident" in result.output and "Traceback" not in result.output
    assert "secret" not in result.output
    log = (tmp_path / "logs" / "cli.log").read_text()
    incident = result.output.split("(incident ")[1].split(")")[0]
    assert f"incident {incident} in `rubricforge boom`" in log and "KeyError" in log


def test_the_cli_boundary_lets_typer_exits_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUBRICFORGE_HOME", str(tmp_path))
    cli = typer.Typer()

    @cli.command()
    @user_errors
    def partial() -> None:
        raise typer.Exit(3)  # a subclass of RuntimeError: must not become an incident

    @cli.command()
    @user_errors
    def aborted() -> None:
        raise typer.Abort()

    assert CliRunner().invoke(cli, ["partial"]).exit_code == 3
    assert CliRunner().invoke(cli, ["aborted"]).exit_code == 1
    assert not (tmp_path / "logs").exists()


def test_a_deeply_nested_job_config_is_a_config_problem(tmp_path: Path) -> None:
    from rubricforge.models.training.config import JobConfigError
    from rubricforge.models.training.config_files import load_config_file
    from rubricforge.webapp.components.training import parse_config_text

    with pytest.raises(JobConfigError, match="nested too deeply"):
        parse_config_text(DEEP)  # the Training page's config box
    path = tmp_path / "deep.json"
    path.write_text(DEEP)
    with pytest.raises(JobConfigError, match="nested too deeply"):
        load_config_file(path)  # rubricforge train submit --config
