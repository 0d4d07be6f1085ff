"""Import prompts, reference answers and rubrics from a file. All or nothing.

Reading and validation live in models/data/import_formats.py; this module decides
what each valid row means for the database and writes it in one transaction
with COPY, because RaR-scale files (20k prompts x 15 criteria) must import in
seconds on a small machine.

What a row does:
- new external id: a prompt, its rubric (draft) and rubric version 1 (source
  "import"), head pointing at it;
- known id, same question and reference answer, same rubric content: nothing;
- known id, same question and reference answer, different rubric: a new version
  appended (head moves, status back to draft), unless the rubric holds curated
  work (an expert's edit or an approval, `models.rubrics.append.is_curated`):
  then the prompt is reported as a conflict and left as it is, unless the caller
  asks to replace curated rubrics with the file (a new draft version; the
  approved version stays exportable until another one is approved). A retired
  rubric is always a conflict (reopen it first);
- known id with a different question or reference answer: a bad row. We never
  overwrite a prompt silently; the user picks a new id or a new dataset.
Other prompt fields of a known id (source, tags, meta) are left as they are.

Every run writes exactly one audit entry ("import", with counts and the file's
sha256), also a re-import that changes nothing, so the log shows who ran it.
A dry run plans the same way, reports what it would do and writes nothing.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.copy import QueuedLibpqWriter
from rubricforge.models.accounts.permissions import Action, UserInfo, require
from rubricforge.models.core.audit import audit
from rubricforge.models.core.errors import ImportFileError, StaleEditError
from rubricforge.models.data.import_formats import (
    ParsedFile,
    ParsedPrompt,
    Problem,
    criterion_keys,
    parse_file,
)
from rubricforge.models.data.import_result import ImportConflict, ImportResult
from rubricforge.models.rubrics.append import (
    CURATED_SOURCES,
    NewVersion,
    append_versions,
    is_curated,
)
from rubricforge.models.rubrics.append import pg_array as _array
from rubricforge.models.rubrics.criteria import CriterionData, content_hash
from rubricforge.models.rubrics.orm import RubricStatus, VersionSource
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session


@dataclass
class _Known:
    """A row whose external id is already in the dataset, with a different rubric."""

    prompt: ParsedPrompt
    prompt_id: int
    rubric_id: int | None  # None: the prompt has no rubric yet
    head_id: int | None
    number: int  # of the version to append
    curated: bool = False  # replacing curated work, as asked


@dataclass
class _Plan:
    new: list[ParsedPrompt] = field(default_factory=list)
    changed: list[_Known] = field(default_factory=list)
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)
    conflicts: list[ImportConflict] = field(default_factory=list)


def import_file(
    engine: Engine,
    path: Path,
    dataset: str,
    *,
    actor: UserInfo,
    progress: bool = False,
    dry_run: bool = False,
    replace_curated: bool = False,
) -> ImportResult:
    """Import RaR or HealthBench rows from a JSONL, CSV or Parquet file into
    `dataset` (created if new). Raises ImportFileError listing every bad row
    (nothing is written), StaleEditError if a rubric was edited meanwhile.
    Curated rubrics that differ from the file are reported in `conflicts` and
    left alone unless `replace_curated`; `dry_run` writes nothing at all."""
    require(actor, Action.import_data)
    path = Path(path)
    dataset = dataset.strip()
    if not dataset or len(dataset) > 200:
        raise ImportFileError(str(path), [(0, "the dataset name must be 1 to 200 characters")])
    with _gc_paused():
        options = _Options(actor, progress, dry_run, replace_curated)
        return _import(engine, path, dataset, options)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """A large import allocates millions of small objects that all stay alive
    until the end; the cyclic GC rescans them again and again (half the time of
    a 20k-prompt import) and can free none of them. Paused, then restored."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass(frozen=True)
class _Options:
    actor: UserInfo
    progress: bool
    dry_run: bool
    replace_curated: bool


def _import(engine: Engine, path: Path, dataset: str, o: _Options) -> ImportResult:
    parsed = parse_file(path, dataset, progress=o.progress)
    result = ImportResult(
        dataset=dataset,
        format=parsed.shape,
        file=path.name,
        file_format=parsed.file_format,
        rows=len(parsed.prompts) + len({line for line, _ in parsed.problems}),
        sha256=_sha256(path),
        dry_run=o.dry_run,
        nul_lines=parsed.nul_lines,
    )
    with engine.connect() as conn, conn.begin() as tx:
        dataset_id = _lock_dataset(conn, dataset, o.actor.id)
        plan = _plan(conn, dataset_id, parsed, o.replace_curated)
        problems = sorted(parsed.problems + plan.problems)
        if problems:
            raise ImportFileError(str(path), problems)  # rolls back, dataset included
        _count(plan, result)
        if o.dry_run:
            tx.rollback()  # the dataset too, if the import would have created it
            return result
        try:
            _write(conn, dataset_id, plan, result.dataset, path.name, o)
        except psycopg.errors.UniqueViolation:
            # Someone added the same ids outside an import (which would have waited
            # for our lock on the dataset) after we looked.
            raise StaleEditError(
                f"prompts were added to dataset '{dataset}' while the import ran; "
                "nothing was imported, run the import again"
            ) from None
        with Session(bind=conn) as session:
            audit(
                session,
                actor=o.actor.username,
                user_id=o.actor.id,
                action="import",
                entity="dataset",
                entity_id=dataset_id,
                details={
                    **dataclasses.asdict(result),
                    "conflicts": [c.external_id for c in result.conflicts],
                    "replaced": [k.prompt.external_id for k in plan.changed if k.curated],
                    "path": str(path.resolve()),
                },
            )
            session.flush()
    return result


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _md5(s: str) -> str:
    return hashlib.md5(s.encode(), usedforsecurity=False).hexdigest()


def _lock_dataset(conn: Connection, name: str, user_id: int | None) -> int:
    """Create the dataset if new and lock it, so two imports into one dataset
    run one after the other (the plan assumes nobody else adds prompts)."""
    conn.execute(
        text(
            "INSERT INTO datasets (name, description, created_by_id) VALUES (:n, '', :u) "
            "ON CONFLICT (name) DO NOTHING"
        ),
        {"n": name, "u": user_id},
    )
    query = text("SELECT id FROM datasets WHERE name = :n FOR UPDATE")
    return int(conn.execute(query, {"n": name}).scalar_one())


_EXISTING = text(
    # md5 rather than the texts: a re-import of 20k prompts moves 40 MB less.
    "SELECT p.external_id, p.id AS prompt_id, md5(p.question) AS q, "
    "md5(p.reference_answer) AS a, r.id AS rubric_id, r.head_version_id, hv.content_hash, "
    "r.status, r.approved_version_id, hv.source AS head_source, hv.number AS head_number, "
    "(SELECT max(number) FROM rubric_versions v WHERE v.rubric_id = r.id) AS last_number "
    "FROM prompts p LEFT JOIN rubrics r ON r.prompt_id = p.id "
    "LEFT JOIN rubric_versions hv ON hv.id = r.head_version_id "
    "WHERE p.dataset_id = :d AND p.external_id = ANY(:ids)"
)


def _plan(conn: Connection, dataset_id: int, parsed: ParsedFile, replace_curated: bool) -> _Plan:
    plan = _Plan()
    ids = [p.external_id for p in parsed.prompts]
    existing = {r.external_id: r for r in conn.execute(_EXISTING, {"d": dataset_id, "ids": ids})}
    for prompt in parsed.prompts:
        row = existing.get(prompt.external_id)
        if row is None:
            plan.new.append(prompt)
        elif row.q != _md5(prompt.question) or row.a != _md5(prompt.reference_answer):
            which = "question" if row.q != _md5(prompt.question) else "reference answer"
            plan.problems.append(
                (
                    prompt.line,
                    f"id '{prompt.external_id}' is already in this dataset with a different "
                    f"{which}; give the row a new id or import it into another dataset",
                )
            )
        elif row.content_hash == content_hash(prompt.criteria):
            plan.unchanged += 1
        elif row.status == RubricStatus.retired.value:
            plan.conflicts.append(
                ImportConflict(
                    prompt.line,
                    prompt.external_id,
                    row.prompt_id,
                    "its rubric is retired and differs from the file; reopen it to import",
                )
            )
        elif is_curated(row.head_source, row.approved_version_id) and not replace_curated:
            plan.conflicts.append(
                ImportConflict(prompt.line, prompt.external_id, row.prompt_id, _curated(row))
            )
        else:
            number = (row.last_number or 0) + 1
            curated = is_curated(row.head_source, row.approved_version_id)
            plan.changed.append(
                _Known(prompt, row.prompt_id, row.rubric_id, row.head_version_id, number, curated)
            )
    return plan


def _curated(row: Any) -> str:
    what = []
    if row.head_source in CURATED_SOURCES:
        what.append(f"version {row.head_number} was edited by an expert")
    if row.approved_version_id is not None:
        what.append("it has an approved version" if row.status != "approved" else "approved")
    return f"the file differs from the curated rubric ({', '.join(what)})"


def _count(plan: _Plan, result: ImportResult) -> None:
    changed = [k.prompt for k in plan.changed]
    result.criteria_added = sum(len(p.criteria) for p in itertools.chain(plan.new, changed))
    result.pitfalls_flagged = sum(p.pitfalls_flagged for p in itertools.chain(plan.new, changed))
    result.prompts_added = len(plan.new)
    result.rubrics_updated = len(plan.changed)
    result.curated_replaced = sum(k.curated for k in plan.changed)
    result.prompts_unchanged = plan.unchanged
    result.conflicts = plan.conflicts


def _write(
    conn: Connection, dataset_id: int, plan: _Plan, dataset: str, file: str, o: _Options
) -> None:
    """Prompts by COPY, their rubrics (head NULL), then every version through
    `append_versions`, which locks the known rubrics and checks nobody moved
    their head since we planned."""
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection), "the importer needs the psycopg driver"
    with raw.cursor() as cur:
        old_keys = _old_keys(cur, [k.head_id for k in plan.changed if k.head_id is not None])
        prompt_ids = _nextvals(cur, "prompts", len(plan.new))
        _copy(
            cur,
            "COPY prompts (id, dataset_id, external_id, question, reference_answer, "
            "messages, source, tags, meta) FROM STDIN",
            (_prompt_row(p, pid, dataset_id) for p, pid in zip(plan.new, prompt_ids, strict=True)),
        )
    need = [*prompt_ids, *(k.prompt_id for k in plan.changed if k.rubric_id is None)]
    rubric_of: dict[int, int] = dict(
        conn.execute(_NEW_RUBRICS, {"status": "draft", "user": o.actor.id, "ids": need}).all()
    )
    user = o.actor  # the permission was checked by import_file
    note = f"imported from {file}"
    items = [
        NewVersion(rubric_of[pid], p.criteria, VersionSource.import_, note=note, flags=p.flags)
        for p, pid in zip(plan.new, prompt_ids, strict=True)
    ]
    for k in plan.changed:
        items.append(
            NewVersion(
                k.rubric_id or rubric_of[k.prompt_id],
                _carry_keys(k, old_keys.get(k.head_id or 0, {}), dataset),
                VersionSource.import_,
                note=f"replaced with the file {file} (curated work kept in history)"
                if k.curated
                else note,
                flags=k.prompt.flags,  # wording and sign only: they hold for carried keys too
                expected_head_id=k.head_id,
                check_head=k.rubric_id is not None,
            )
        )
    try:
        append_versions(conn, user, items, audit_action=None, progress=o.progress)
    except StaleEditError:
        raise StaleEditError(
            "rubrics were edited while the import ran; nothing was imported, run the import again"
        ) from None


_NEW_RUBRICS = text(
    "INSERT INTO rubrics (prompt_id, status, lock_version, updated_by_id) "
    "SELECT unnest(CAST(:ids AS int[])), :status, 1, :user RETURNING prompt_id, id"
)


def _prompt_row(p: ParsedPrompt, prompt_id: int, dataset_id: int) -> tuple[Any, ...]:
    messages = None if p.messages is None else json.dumps(p.messages, ensure_ascii=False)
    meta = json.dumps(p.meta, ensure_ascii=False, default=str)
    return (prompt_id, dataset_id, p.external_id, p.question, p.reference_answer, messages,
            p.source, _array(p.tags), meta)  # fmt: skip


def _nextvals(cur: psycopg.Cursor[Any], table: str, n: int) -> list[int]:
    """Reserve n ids in one round trip: COPY needs them up front to link rows."""
    if n == 0:
        return []
    cur.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
        (table, n),
    )
    return [r[0] for r in cur.fetchall()]


def _copy(cur: psycopg.Cursor[Any], statement: str, rows: Iterable[Sequence[Any]]) -> None:
    # The queued writer sends from a thread, so the server parses one batch
    # while Python formats the next.
    with cur.copy(statement, writer=QueuedLibpqWriter(cur)) as copy:
        for row in rows:
            copy.write_row(row)


def _old_keys(cur: psycopg.Cursor[Any], head_ids: list[int]) -> dict[int, dict[str, str]]:
    """Per old head version: title -> key and description -> key."""
    out: dict[int, dict[str, str]] = {}
    if not head_ids:
        return out
    cur.execute(
        "SELECT version_id, title, description, key FROM criteria "
        "WHERE version_id = ANY(%s) ORDER BY version_id, position",
        (head_ids,),
    )
    for vid, title, description, key in cur.fetchall():
        keys = out.setdefault(vid, {})
        keys.setdefault("t:" + title, key)
        keys.setdefault("d:" + description, key)
    return out


def _carry_keys(k: _Known, old: dict[str, str], dataset: str) -> list[CriterionData]:
    """A criterion whose title or description is unchanged keeps its key, so
    labels and revision requests follow it into the new version; a new one gets
    a key derived from the version number, so the same file gives the same keys."""
    fresh = criterion_keys(dataset, k.prompt.external_id, len(k.prompt.criteria), k.number)
    used: set[str] = set()
    out = []
    for position, c in enumerate(k.prompt.criteria):
        key = old.get("t:" + c.title) or old.get("d:" + c.description)
        if key is None or key in used:
            key = fresh[position]
        used.add(key)
        out.append(dataclasses.replace(c, key=key))
    return out
