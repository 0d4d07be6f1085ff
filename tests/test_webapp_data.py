"""The Data page under AppTest, against a real Postgres: an expert imports a file
through the uploader (and again, which changes nothing); a bad file names every
bad line and imports nothing; a researcher freezes a snapshot, which is listed
with its sha256, and an empty selection says so; any role downloads a snapshot's
files, byte for byte what `write_snapshot` writes; and each role sees only the
controls its permissions allow."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from rubricforge.models import AuditEntry
from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.core.errors import ImportFileError
from rubricforge.models.data.exporter import ExportFilter, create_snapshot, write_snapshot
from rubricforge.models.data.files import (
    MAX_UPLOAD_MB,
    import_upload,
    snapshot_files,
    upload_name,
)
from rubricforge.models.data.importer import import_file
from rubricforge.models.data.orm import ExportSnapshot
from rubricforge.webapp.components.data import FILES_KEY
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest
from test_import import rar_row, write_jsonl
from test_import_curated import curate, rubric_of
from webapp_support import app_as, click, has, shown, user_id, values, widget

pytestmark = pytest.mark.db

PAGE = "views/data.py"
TABLES = ["datasets", "prompts", "rubrics", "rubric_versions", "criteria", "export_snapshots"]


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def jsonl(rows: list[Any]) -> bytes:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows).encode()


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader[0].set_value((name, data, "application/octet-stream"))
    at.run()
    assert not at.exception, at.exception
    return at


def page_as(url: str, username: str) -> AppTest:
    return app_as(user_id(url, username), PAGE)


# --- import ----------------------------------------------------------------------


def test_expert_imports_a_file_and_importing_it_again_changes_nothing(
    demo_app_db: str, engine: Engine, rar_sample: Path
) -> None:
    data = rar_sample.read_bytes()
    rows = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
    criteria = sum(len(r["rubric"]) for r in rows)
    before = counts(engine)
    at = page_as(demo_app_db, "expert1")
    assert widget(at, "button", "Import").disabled  # no file yet
    upload(at, rar_sample.name, data)
    widget(at, "text_input", "New dataset name").input("rar-med")
    assert widget(at, "button", "Import").disabled  # not before a preview
    click(at, "Preview")
    assert shown(at, "info", "Preview of importing")
    assert metrics(at)["Prompts added"] == str(len(rows))
    assert counts(engine) == before  # a preview writes nothing
    click(at, "Import")

    assert shown(at, "success", f"Imported {rar_sample.name} into dataset “rar-med”.")
    assert metrics(at) == {
        "Rows": str(len(rows)),
        "Prompts added": str(len(rows)),
        "Unchanged": "0",
        "Rubrics updated": "0",
        "Conflicts": "0",
        "Criteria added": str(criteria),
        "Pitfalls flagged": metrics(at)["Pitfalls flagged"],
    }
    assert int(metrics(at)["Pitfalls flagged"]) >= 1  # the sample's avoidance-worded pitfall
    assert shown(at, "warning", "check their polarity")
    assert shown(at, "caption", "sha256 ")
    after = counts(engine)
    assert after["prompts"] - before["prompts"] == len(rows)
    assert after["criteria"] - before["criteria"] == criteria
    # The new dataset is offered from now on.
    assert "rar-med" in widget(at, "selectbox", "Dataset").options

    # The same file again, into the same dataset: nothing changes but the audit log.
    widget(at, "selectbox", "Dataset").set_value("rar-med").run()
    assert not has(at, "text_input", "New dataset name")
    assert widget(at, "button", "Import").disabled  # the preview was for the import done
    click(at, "Preview")
    click(at, "Import")
    assert shown(at, "info", "Nothing changed importing")
    assert metrics(at)["Prompts added"] == "0"
    assert metrics(at)["Unchanged"] == str(len(rows))
    assert counts(engine) == after
    with Session(engine) as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "import")).all()
    assert [(e.actor, e.user_id) for e in entries] == [
        ("expert1", user_id(demo_app_db, "expert1"))
    ] * 2
    assert {e.details["file"] for e in entries} == {rar_sample.name}


def test_a_bad_file_names_every_bad_line_and_imports_nothing(
    demo_app_db: str, engine: Engine, rar_sample: Path
) -> None:
    good = [json.loads(line) for line in rar_sample.read_text().splitlines() if line.strip()]
    sneaky = "[click](javascript:alert(1))"
    rows = [
        {**good[0], "uid": sneaky},
        {**good[1], "rubric": []},  # line 2: no criteria
        "{not json",  # line 3
        {**good[2], "uid": sneaky},  # line 4: a duplicate id, quoted as typed
    ]
    before = counts(engine)
    at = page_as(demo_app_db, "expert1")
    upload(at, "bad rows.jsonl", jsonl(rows))
    widget(at, "text_input", "New dataset name").input("never-made")
    click(at, "Preview")
    assert widget(at, "button", "Import").disabled  # nothing to import

    assert shown(at, "error", "bad rows.jsonl: 3 problem(s); nothing was imported.")
    [problems] = at.dataframe
    assert list(problems.value["Line"]) == ["2", "3", "4"]
    assert sneaky in problems.value["Problem"].iloc[2]  # a table cell: never markdown
    assert not at.success and not at.metric
    assert counts(engine) == before  # not even the dataset


def test_preview_shows_conflicts_and_only_an_explicit_replace_overwrites_curated_work(
    demo_app_db: str, engine: Engine, tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "source.jsonl", [rar_row("a"), rar_row("b")])
    import_file(engine, source, "cur", actor=OPERATOR)
    curated = curate(engine, "a", approve_it=True)
    at = page_as(demo_app_db, "expert1")
    upload(at, "source.jsonl", source.read_bytes())
    widget(at, "selectbox", "Dataset").set_value("cur").run()
    before = counts(engine)
    click(at, "Preview")
    assert metrics(at)["Conflicts"] == "1" and metrics(at)["Unchanged"] == "1"
    assert shown(at, "warning", "1 prompt(s) hold curated work")
    [conflicts] = at.dataframe
    assert list(conflicts.value["ID"]) == ["a"]
    assert counts(engine) == before

    click(at, "Import")  # the box left unticked: the curated rubric stays
    assert shown(at, "info", "Nothing changed importing")
    assert rubric_of(engine, "a").head_version_id == curated

    click(at, "Preview")
    widget(at, "checkbox", "Replace the 1 curated rubric(s) with the file").check().run()
    click(at, "Import")
    assert shown(at, "success", "Imported source.jsonl")
    assert shown(at, "warning", "1 curated rubric(s) replaced with the file")
    rubric = rubric_of(engine, "a")
    assert rubric.head_version_id != curated and rubric.approved_version_id == curated


def test_preview_reports_nul_lines_and_forgets_itself_when_the_dataset_changes(
    demo_app_db: str, engine: Engine
) -> None:
    rows = [rar_row("a"), rar_row("b", question="Bad\x00 question?")]
    at = page_as(demo_app_db, "expert1")
    upload(at, "nul.jsonl", jsonl(rows))
    widget(at, "text_input", "New dataset name").input("nul-ds")
    click(at, "Preview")
    assert shown(at, "warning", "1 row(s) held NUL characters, which were replaced with U+FFFD")
    assert not widget(at, "button", "Import").disabled
    widget(at, "text_input", "New dataset name").input("other-ds").run()
    assert widget(at, "button", "Import").disabled and not at.metric  # preview was for nul-ds
    widget(at, "text_input", "New dataset name").input("nul-ds").run()
    click(at, "Preview")
    click(at, "Import")
    assert shown(at, "success", "Imported nul.jsonl") and shown(at, "warning", "lines 2")


def test_an_upload_over_the_limit_is_refused_and_imports_nothing(engine: Engine) -> None:
    before = counts(engine)
    big = b" " * (MAX_UPLOAD_MB * 2**20 + 1)
    with pytest.raises(ImportFileError, match=f"up to {MAX_UPLOAD_MB} MB"):
        import_upload(engine, big, "big.jsonl", "ds", actor=OPERATOR)
    assert counts(engine) == before


def test_import_upload_keeps_the_suffix_and_names_the_upload_not_the_temp_copy(
    engine: Engine, rar_sample: Path
) -> None:
    assert upload_name("../../etc/notes.JSONL") == "notes.jsonl"
    assert upload_name("C:\\Users\\me\\rar [v2]!.csv") == "rar _v2_.csv"
    assert upload_name("...") == "upload"
    with pytest.raises(ImportFileError) as err:
        import_upload(engine, b"", "empty.csv", "ds", actor=OPERATOR)
    assert err.value.path == "empty.csv"
    assert str(err.value).startswith("empty.csv: 1 problem(s); nothing was imported.")
    result = import_upload(engine, rar_sample.read_bytes(), "x/rar.jsonl", "ds", actor=OPERATOR)
    assert (result.file, result.file_format, result.prompts_added) == ("rar.jsonl", "jsonl", 3)


# --- export ----------------------------------------------------------------------


def test_researcher_creates_a_snapshot_listed_with_its_sha256(
    demo_app_db: str, engine: Engine
) -> None:
    at = page_as(demo_app_db, "researcher1")
    assert shown(at, "info", "No export snapshots yet.")
    widget(at, "selectbox", "Dataset").set_value("demo-medicine")
    widget(at, "text_input", "Snapshot name (optional)").input("pilot")
    click(at, "Create snapshot")

    with Session(engine) as s:
        snap = s.scalars(select(ExportSnapshot)).one()
    assert snap.name == "pilot" and snap.filter["dataset"] == "demo-medicine"
    assert snap.created_by_id == user_id(demo_app_db, "researcher1")
    assert shown(at, "success", f"Snapshot {snap.id} “pilot”: {snap.row_count} rubrics")
    assert shown(at, "success", snap.sha256)
    listed = at.dataframe[0].value
    assert listed.to_dict("records") == [
        {
            "ID": snap.id,
            "Name": "pilot",
            "Rubrics": snap.row_count,
            "sha256": snap.sha256,
            "Created (UTC)": listed["Created (UTC)"][0],
            "By": "researcher1",
            "Filter": "dataset=demo-medicine",
        }
    ]
    assert widget(at, "selectbox", "Snapshot").value == snap.id


def test_an_empty_selection_is_refused_and_exports_nothing(
    demo_app_db: str, engine: Engine
) -> None:
    at = page_as(demo_app_db, "researcher1")
    widget(at, "date_input", "Approved before").set_value(date(2000, 1, 1))
    click(at, "Create snapshot")
    assert shown(at, "error", "no approved rubrics match approved_until=2000-01-01")
    assert shown(at, "error", "Nothing was exported.")
    # Dates that cannot both hold are refused before anything is read.
    widget(at, "date_input", "Approved on or after").set_value(date(2000, 1, 2))
    click(at, "Create snapshot")
    assert shown(at, "error", "must be before approved_until")
    assert counts(engine)["export_snapshots"] == 0


def test_every_role_downloads_the_files_write_snapshot_writes(
    demo_app_db: str, engine: Engine, tmp_path: Path
) -> None:
    info = create_snapshot(engine, ExportFilter(), name="all of it", actor=OPERATOR)
    written = write_snapshot(engine, info.id, tmp_path / "out")
    at = page_as(demo_app_db, "annotator1")
    assert not has(at, "button", "Create snapshot")
    click(at, "Prepare downloads")
    assert [b.label for b in at.get("download_button")] == [
        "Download RaR JSONL",
        "Download all formats (zip)",
    ]
    files = at.session_state[FILES_KEY]
    assert (files.jsonl_name, files.archive_name) == (
        f"snapshot-{info.id}-all-of-it-rar.jsonl",
        f"snapshot-{info.id}-all-of-it.zip",
    )
    assert files.jsonl == written["jsonl"].read_bytes()
    with zipfile.ZipFile(io.BytesIO(files.archive)) as zf:
        inside = {n: zf.read(n) for n in zf.namelist()}
    out = tmp_path / "out"
    expected = {
        f"snapshot-{info.id}-all-of-it/{p.relative_to(out).as_posix()}": p.read_bytes()
        for p in out.rglob("*")
        if p.is_file()
    }
    assert inside == expected
    assert {"rar.jsonl", "verl.parquet", "manifest.json"} <= {n.split("/", 1)[1] for n in inside}
    assert any("/hf/" in n for n in inside) and any("/trl/" in n for n in inside)
    # Same snapshot, same bytes: the zip too.
    assert snapshot_files(engine, info.id).archive == files.archive


# --- who sees what ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "imports", "exports"),
    [("annotator1", False, False), ("expert1", True, False), ("researcher1", False, True),
     ("admin", True, True)],
)  # fmt: skip
def test_controls_follow_the_role(
    demo_app_db: str, username: str, imports: bool, exports: bool
) -> None:
    eng = create_engine(demo_app_db)
    create_snapshot(eng, ExportFilter(), actor=OPERATOR)
    eng.dispose()
    at = page_as(demo_app_db, username)
    assert (len(at.file_uploader) == 1) == imports
    assert has(at, "button", "Import") == imports
    assert has(at, "button", "Create snapshot") == exports
    assert shown(at, "info", "Importing needs the expert or admin role") != imports
    assert has(at, "button", "Prepare downloads")  # reading is open to all
    assert len(at.dataframe) == 1
    assert not values(at, "error")
