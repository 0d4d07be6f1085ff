"""The Data page's pieces: the import form and what an import did (or why it
imported nothing), the snapshot form, the snapshots table and their downloads.

File contents and names are user text: they reach the page escaped (`escape_md`)
or in a table, which never renders markdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date

import pandas as pd
import streamlit as st
from rubricforge.models.accounts.permissions import UserInfo
from rubricforge.models.core.errors import ImportFileError, RubricforgeError
from rubricforge.models.data.exporter import ExportFilter, SnapshotRecord, create_snapshot
from rubricforge.models.data.files import (
    MAX_UPLOAD_MB,
    SnapshotFiles,
    import_upload,
    snapshot_files,
)
from rubricforge.models.data.importer import ImportResult
from rubricforge.webapp.components.text import escape_md, flash, show_error
from rubricforge.webapp.db import engine

# Session keys: the last import's outcome, the chosen snapshot, its prepared files.
IMPORT_KEY, SNAPSHOT_KEY, FILES_KEY = "data:import", "data:snapshot", "data:files"
PREVIEW_KEY = "data:preview"  # (the upload and dataset it is for, the dry run's result)
NEW_DATASET = "New dataset…"
ALL_DATASETS, ANY_TAG = "All datasets", "Any tag"
FILE_TYPES = ["jsonl", "ndjson", "csv", "parquet"]
TIME = "%Y-%m-%d %H:%M:%S"
EARLIEST = date(2000, 1, 1)  # the date pickers' lower bound (Streamlit's: ten years ago)


def import_form(user: UserInfo, datasets: Sequence[str]) -> None:
    """Upload a file, preview what importing it into a dataset would do (a dry run:
    new, unchanged, updated, conflicts with curated rubrics), then import it,
    replacing curated rubrics only if the user ticks that (Action.import_data; the
    service checks it). The outcome is kept in the session for `show_import_outcome`."""
    upload = st.file_uploader(
        "File (RaR or HealthBench rows: JSONL, CSV or Parquet)",
        type=FILE_TYPES,
        help=f"Up to {MAX_UPLOAD_MB} MB; import larger files with `rubricforge import`.",
    )
    c1, c2 = st.columns(2)
    choice = c1.selectbox("Dataset", [NEW_DATASET, *datasets], key="data:import-dataset")
    name = (
        c2.text_input("New dataset name", max_chars=200, key="data:new-dataset")
        if choice == NEW_DATASET
        else choice
    )
    st.caption(
        "Preview first: nothing is written until you import. All or nothing: a file with a "
        "bad row imports nothing and lists every bad row. Rubrics an expert edited or a "
        "reviewer approved are never replaced unless you ask."
    )
    token = (upload.file_id, upload.name, upload.size, name) if upload is not None else None
    preview = st.session_state.get(PREVIEW_KEY)
    current = preview is not None and preview[0] == token
    shown = st.session_state.get(IMPORT_KEY)
    if isinstance(shown, ImportResult) and shown.dry_run and not current:
        st.session_state.pop(IMPORT_KEY)  # a preview of another file or dataset
    b1, b2 = st.columns(2)
    if b1.button("Preview", icon=":material/preview:", disabled=upload is None):
        assert upload is not None  # the button is disabled without a file
        outcome = _run_import(user, upload.getvalue(), upload.name, name, dry_run=True)
        if isinstance(outcome, ImportResult):
            st.session_state[PREVIEW_KEY] = (token, outcome)
        else:
            st.session_state.pop(PREVIEW_KEY, None)
        if outcome is not None:
            st.session_state[IMPORT_KEY] = outcome
        st.rerun()
    replace = False
    if current:
        assert preview is not None
        conflicts = len(preview[1].conflicts)
        if conflicts:
            replace = st.checkbox(
                f"Replace the {conflicts} curated rubric(s) with the file",
                key="data:replace-curated",
                help="Each gets a new draft version from the file; the approved version "
                "stays exportable until the new one is approved.",
            )
    if not b2.button("Import", type="primary", icon=":material/upload:", disabled=not current):
        return
    assert upload is not None  # the button is disabled without a current preview
    outcome = _run_import(user, upload.getvalue(), upload.name, name, replace_curated=replace)
    st.session_state.pop(PREVIEW_KEY, None)
    st.session_state.pop("data:replace-curated", None)
    if outcome is not None:
        st.session_state[IMPORT_KEY] = outcome
        st.rerun()  # the new dataset joins the choices


def _run_import(
    user: UserInfo,
    data: bytes,
    filename: str,
    dataset: str,
    *,
    dry_run: bool = False,
    replace_curated: bool = False,
) -> ImportResult | ImportFileError | None:
    """The import's result, the file's problems, or None after showing another error."""
    try:
        with st.spinner("Checking…" if dry_run else "Importing…"):
            return import_upload(
                engine(),
                data,
                filename,
                dataset,
                actor=user,
                dry_run=dry_run,
                replace_curated=replace_curated,
            )
    except ImportFileError as exc:
        return exc
    except RubricforgeError as exc:
        show_error(exc)
        return None


def show_import_outcome() -> None:
    outcome = st.session_state.get(IMPORT_KEY)
    if isinstance(outcome, ImportResult):
        show_import_result(outcome)
    elif isinstance(outcome, ImportFileError):
        show_import_problems(outcome)


def show_import_result(result: ImportResult) -> None:
    where = f"{result.file} into dataset “{result.dataset}”"
    if result.dry_run:
        st.info(
            escape_md(f"Preview of importing {where}: nothing is written until you import."),
            icon=":material/preview:",
        )
    elif result.changed:
        st.success(escape_md(f"Imported {where}."), icon=":material/check:")
    else:
        st.info(
            escape_md(f"Nothing changed importing {where}: it holds every row as it is."),
            icon=":material/info:",
        )
    figures = {
        "Rows": result.rows,
        "Prompts added": result.prompts_added,
        "Unchanged": result.prompts_unchanged,
        "Rubrics updated": result.rubrics_updated,
        "Conflicts": len(result.conflicts),
        "Criteria added": result.criteria_added,
        "Pitfalls flagged": result.pitfalls_flagged,
    }
    for col, (label, value) in zip(st.columns(len(figures)), figures.items(), strict=True):
        col.metric(label, value)
    shape = {"rar": "RaR", "healthbench": "HealthBench"}.get(result.format, result.format)
    st.caption(escape_md(f"{shape} rows from {result.file_format} · sha256 {result.sha256}"))
    if result.nul_lines:
        lines = ", ".join(map(str, result.nul_lines[:20])) + (
            " …" if len(result.nul_lines) > 20 else ""
        )
        st.warning(
            f"{len(result.nul_lines)} row(s) held NUL characters, which were replaced with "
            f"U+FFFD (lines {lines}); their criteria carry the flag text:nul_replaced.",
            icon=":material/warning:",
        )
    if result.curated_replaced:
        st.warning(
            f"{result.curated_replaced} curated rubric(s) "
            + ("would be " if result.dry_run else "")
            + "replaced with the file: each has a new draft version, and its approved "
            "version stays exportable until the new one is approved.",
            icon=":material/swap_horiz:",
        )
    if result.conflicts:
        st.warning(
            f"{len(result.conflicts)} prompt(s) hold curated work (an expert's edit or an "
            "approval) that differs from the file; "
            + ("they will be left as they are" if result.dry_run else "they were left as they are")
            + " unless you tick “Replace … with the file”.",
            icon=":material/lock:",
        )
        st.dataframe(conflicts_frame(result), hide_index=True)
    if result.pitfalls_flagged:
        st.warning(
            f"{result.pitfalls_flagged} criteria flagged: their wording and sign may disagree "
            "(a pitfall worded as an avoidance, a missing point rewarded, or title and "
            "description disagreeing): check their polarity in the editor's lint panel.",
            icon=":material/flag:",
        )


def show_import_problems(exc: ImportFileError) -> None:
    st.error(
        escape_md(
            f"{exc.path}: {len(exc.problems)} problem(s); nothing was imported. "
            "Fix the rows below and import the file again."
        ),
        icon=":material/error:",
    )
    st.dataframe(problems_frame(exc.problems), hide_index=True)


def conflicts_frame(result: ImportResult) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Line": [c.line for c in result.conflicts],
            "ID": [c.external_id for c in result.conflicts],
            "Conflict": [c.reason for c in result.conflicts],
        }
    )


def problems_frame(problems: Sequence[tuple[int, str]]) -> pd.DataFrame:
    """Every bad row; line 0 (the file as a whole) reads "file"."""
    return pd.DataFrame(
        {
            "Line": [str(line) if line else "file" for line, _ in problems],
            "Problem": [message for _, message in problems],
        }
    )


def snapshot_form(user: UserInfo, datasets: Sequence[str], tags: Sequence[str]) -> None:
    """Freeze approved rubrics into a snapshot (Action.export; the service checks it)."""
    with st.form("create-snapshot"):
        c1, c2 = st.columns(2)
        dataset = c1.selectbox("Dataset", [ALL_DATASETS, *datasets], key="data:export-dataset")
        tag = c2.selectbox("Tag", [ANY_TAG, *tags])
        c3, c4 = st.columns(2)
        since = c3.date_input(
            "Approved on or after", value=None, min_value=EARLIEST, help="UTC, inclusive"
        )
        until = c4.date_input(
            "Approved before", value=None, min_value=EARLIEST, help="UTC, exclusive"
        )
        name = st.text_input("Snapshot name (optional)", max_chars=200)
        if not st.form_submit_button("Create snapshot", type="primary", icon=":material/lock:"):
            return
    try:
        flt = ExportFilter.parse(
            dataset=None if dataset == ALL_DATASETS else dataset,
            tag=None if tag == ANY_TAG else tag,
            approved_since=since.isoformat() if since else None,
            approved_until=until.isoformat() if until else None,
        )
        with st.spinner("Freezing…"):
            info = create_snapshot(engine(), flt, name=name.strip() or None, actor=user)
    except RubricforgeError as exc:
        show_error(exc)
        return
    st.session_state[SNAPSHOT_KEY] = info.id
    flash(f"Snapshot {info.id} “{info.name}”: {info.row_count} rubrics, sha256 {info.sha256}.")
    st.rerun()


def snapshots_frame(snapshots: Sequence[SnapshotRecord]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "ID": s.id,
                "Name": s.name,
                "Rubrics": s.row_count,
                "sha256": s.sha256,
                "Created (UTC)": s.created_at.astimezone(UTC).strftime(TIME),
                "By": s.created_by,
                "Filter": s.filter,
            }
            for s in snapshots
        ]
    )


def downloads(snapshot: SnapshotRecord) -> None:
    """Write the chosen snapshot's files on request, then offer them. Reading only:
    every role may download."""
    files: SnapshotFiles | None = st.session_state.get(FILES_KEY)
    ready = files is not None and (files.snapshot_id, files.sha256) == (
        snapshot.id,
        snapshot.sha256,
    )
    if not ready:
        st.caption("The files are written when you ask: a large snapshot takes a few seconds.")
        if st.button("Prepare downloads", icon=":material/folder_zip:"):
            try:
                with st.spinner("Writing JSONL, Hugging Face, TRL and verl files…"):
                    st.session_state[FILES_KEY] = snapshot_files(engine(), snapshot.id)
            except RubricforgeError as exc:
                show_error(exc)
                return
            st.rerun()
        return
    assert files is not None
    c1, c2 = st.columns(2)
    c1.download_button(
        "Download RaR JSONL",
        files.jsonl,
        file_name=files.jsonl_name,
        mime="application/x-ndjson",
        on_click="ignore",
        icon=":material/download:",
    )
    c2.download_button(
        "Download all formats (zip)",
        files.archive,
        file_name=files.archive_name,
        mime="application/zip",
        on_click="ignore",
        icon=":material/folder_zip:",
    )
    st.caption(
        "The zip holds one folder: rar.jsonl, hf/ (Hugging Face datasets), trl/, "
        "verl.parquet and manifest.json with every file's sha256."
    )
