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
  appended (head moves, status back to draft; an approval stays on record);
- known id with a different question or reference answer: a bad row. We never
  overwrite a prompt silently; the user picks a new id or a new dataset.
Other prompt fields of a known id (source, tags, meta) are left as they are.

Every run writes exactly one audit entry ("import", with counts and the file's
sha256), also a re-import that changes nothing, so the log shows who ran it.
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
from rubricforge.models.rubrics.criteria import CriterionData, content_hash
from rubricforge.models.rubrics.orm import RubricStatus, VersionSource
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session


@dataclass
class ImportResult:
    dataset: str
    format: str  # row shape: "rar" | "healthbench"
    file: str = ""  # the file's name
    file_format: str = ""  # "jsonl" | "csv" | "parquet"
    rows: int = 0
    prompts_added: int = 0
    prompts_unchanged: int = 0
    rubrics_updated: int = 0  # existing prompts that got a new rubric version
    criteria_added: int = 0
    pitfalls_flagged: int = 0  # imported negative-weight criteria with a polarity flag
    sha256: str = ""

    @property
    def changed(self) -> bool:
        return bool(self.prompts_added or self.rubrics_updated)

    def summary(self) -> str:
        shape = {"rar": "RaR", "healthbench": "HealthBench"}.get(self.format, self.format)
        text = (
            f"Imported {self.file} ({self.rows} {shape} rows) into dataset '{self.dataset}': "
            f"{self.prompts_added} prompts added, {self.rubrics_updated} rubrics updated "
            f"(new version), {self.prompts_unchanged} unchanged; "
            f"{self.criteria_added} criteria written."
        )
        if not self.changed:
            text += " Nothing changed."
        if self.pitfalls_flagged:
            text += (
                f"\n{self.pitfalls_flagged} pitfall(s) worded as avoidances (or with title and "
                "description disagreeing) carry a negative weight: check their polarity."
            )
        return text


@dataclass
class _Known:
    """A row whose external id is already in the dataset, with a different rubric."""

    prompt: ParsedPrompt
    prompt_id: int
    rubric_id: int | None  # None: the prompt has no rubric yet
    head_id: int | None
    number: int  # of the version to append


@dataclass
class _Plan:
    new: list[ParsedPrompt] = field(default_factory=list)
    changed: list[_Known] = field(default_factory=list)
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)


@dataclass
class _Version:
    """A rubric version to write, with the ids it links."""

    prompt: ParsedPrompt
    criteria: list[CriterionData]
    id: int
    rubric_id: int
    number: int
    parent_id: int | None


def import_file(
    engine: Engine,
    path: Path,
    dataset: str,
    *,
    actor: UserInfo,
    progress: bool = False,
) -> ImportResult:
    """Import RaR or HealthBench rows from a JSONL, CSV or Parquet file into
    `dataset` (created if new). Raises ImportFileError listing every bad row
    (nothing is written), StaleEditError if a rubric was edited meanwhile."""
    require(actor, Action.import_data)
    path = Path(path)
    dataset = dataset.strip()
    if not dataset or len(dataset) > 200:
        raise ImportFileError(str(path), [(0, "the dataset name must be 1 to 200 characters")])
    with _gc_paused():
        return _import(engine, path, dataset, actor, progress)


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


def _import(
    engine: Engine, path: Path, dataset: str, actor: UserInfo, progress: bool
) -> ImportResult:
    parsed = parse_file(path, dataset, progress=progress)
    result = ImportResult(
        dataset=dataset,
        format=parsed.shape,
        file=path.name,
        file_format=parsed.file_format,
        rows=len(parsed.prompts) + len({line for line, _ in parsed.problems}),
        sha256=_sha256(path),
    )
    with engine.begin() as conn:
        dataset_id = _lock_dataset(conn, dataset, actor.id)
        plan = _plan(conn, dataset_id, parsed)
        problems = sorted(parsed.problems + plan.problems)
        if problems:
            raise ImportFileError(str(path), problems)  # rolls back, dataset included
        try:
            _write(conn, dataset_id, plan, result, actor.id, f"imported from {path.name}", progress)
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
                actor=actor.username,
                user_id=actor.id,
                action="import",
                entity="dataset",
                entity_id=dataset_id,
                details={**dataclasses.asdict(result), "path": str(path.resolve())},
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
    "(SELECT max(number) FROM rubric_versions v WHERE v.rubric_id = r.id) AS last_number "
    "FROM prompts p LEFT JOIN rubrics r ON r.prompt_id = p.id "
    "LEFT JOIN rubric_versions hv ON hv.id = r.head_version_id "
    "WHERE p.dataset_id = :d AND p.external_id = ANY(:ids)"
)


def _plan(conn: Connection, dataset_id: int, parsed: ParsedFile) -> _Plan:
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
        else:
            number = (row.last_number or 0) + 1
            plan.changed.append(
                _Known(prompt, row.prompt_id, row.rubric_id, row.head_version_id, number)
            )
    return plan


def _write(
    conn: Connection,
    dataset_id: int,
    plan: _Plan,
    result: ImportResult,
    user_id: int | None,
    note: str,
    progress: bool,
) -> None:
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection), "the importer needs the psycopg driver"
    with raw.cursor() as cur:
        _check_heads(cur, plan)
        old_keys = _old_keys(cur, [k.head_id for k in plan.changed if k.head_id is not None])
        prompt_ids = _nextvals(cur, "prompts", len(plan.new))
        n_rubrics = len(plan.new) + sum(k.rubric_id is None for k in plan.changed)
        rubric_ids = iter(_nextvals(cur, "rubrics", n_rubrics))
        version_ids = iter(_nextvals(cur, "rubric_versions", len(plan.new) + len(plan.changed)))

        versions: list[_Version] = []
        new_rubrics: list[tuple[int, int, int]] = []  # rubric id, prompt id, head id
        moved: list[tuple[int, int]] = []  # existing rubric id, its new head id
        for prompt, pid in zip(plan.new, prompt_ids, strict=True):
            rid, vid = next(rubric_ids), next(version_ids)
            new_rubrics.append((rid, pid, vid))
            versions.append(_Version(prompt, prompt.criteria, vid, rid, 1, None))
        for k in plan.changed:
            vid = next(version_ids)
            if k.rubric_id is None:
                rid = next(rubric_ids)
                new_rubrics.append((rid, k.prompt_id, vid))
            else:
                rid = k.rubric_id
                moved.append((rid, vid))
            criteria = _carry_keys(k, old_keys.get(k.head_id or 0, {}), result.dataset)
            versions.append(_Version(k.prompt, criteria, vid, rid, k.number, k.head_id))

        _copy(
            cur,
            "COPY prompts (id, dataset_id, external_id, question, reference_answer, "
            "messages, source, tags, meta) FROM STDIN",
            (_prompt_row(p, pid, dataset_id) for p, pid in zip(plan.new, prompt_ids, strict=True)),
        )
        cur.execute(
            _RUBRICS_AND_VERSIONS,
            {
                "status": RubricStatus.draft.value,
                "source": VersionSource.import_.value,
                "note": note,
                "user": user_id,
                "r_id": [r[0] for r in new_rubrics],
                "r_prompt": [r[1] for r in new_rubrics],
                "r_head": [r[2] for r in new_rubrics],
                "v_id": [v.id for v in versions],
                "v_rubric": [v.rubric_id for v in versions],
                "v_number": [v.number for v in versions],
                "v_parent": [v.parent_id for v in versions],
                "v_hash": [content_hash(v.criteria) for v in versions],
            },
        )
        _copy(
            cur,
            "COPY criteria (version_id, position, key, title, description, category, "
            "weight, tags, flags) FROM STDIN",
            _criteria_rows(versions, progress),
        )
        cur.execute(
            "UPDATE rubrics r SET head_version_id = u.vid, status = %s, "
            "lock_version = r.lock_version + 1, updated_at = now(), updated_by_id = %s "
            "FROM unnest(%s::int[], %s::int[]) AS u(rid, vid) WHERE r.id = u.rid",
            (RubricStatus.draft.value, user_id, [m[0] for m in moved], [m[1] for m in moved]),
        )
    result.criteria_added += sum(len(v.criteria) for v in versions)
    result.pitfalls_flagged += sum(v.prompt.pitfalls_flagged for v in versions)
    result.prompts_added = len(plan.new)
    result.rubrics_updated = len(plan.changed)
    result.prompts_unchanged = plan.unchanged


# One statement, because rubrics and versions point at each other (head, and
# rubric_id) and neither foreign key is deferrable: both are checked at its end.
_RUBRICS_AND_VERSIONS = """
WITH new_rubrics AS (
    INSERT INTO rubrics (id, prompt_id, status, head_version_id, lock_version, updated_by_id)
    SELECT r.id, r.prompt_id, %(status)s, r.head, 1, %(user)s
    FROM unnest(%(r_id)s::int[], %(r_prompt)s::int[], %(r_head)s::int[]) AS r(id, prompt_id, head)
)
INSERT INTO rubric_versions
    (id, rubric_id, number, parent_id, source, note, created_by_id, content_hash)
SELECT v.id, v.rubric_id, v.number, v.parent, %(source)s, %(note)s, %(user)s, v.hash
FROM unnest(%(v_id)s::int[], %(v_rubric)s::int[], %(v_number)s::int[], %(v_parent)s::int[],
            %(v_hash)s::text[]) AS v(id, rubric_id, number, parent, hash)
"""


def _prompt_row(p: ParsedPrompt, prompt_id: int, dataset_id: int) -> tuple[Any, ...]:
    messages = None if p.messages is None else json.dumps(p.messages, ensure_ascii=False)
    meta = json.dumps(p.meta, ensure_ascii=False, default=str)
    return (prompt_id, dataset_id, p.external_id, p.question, p.reference_answer, messages,
            p.source, _array(p.tags), meta)  # fmt: skip


def _criteria_rows(versions: list[_Version], progress: bool) -> Iterator[tuple[Any, ...]]:
    from tqdm import tqdm

    with tqdm(total=len(versions), desc="writing", unit=" rubrics", disable=not progress) as bar:
        for v in versions:
            vid = v.id
            # Flags depend on wording and sign only, so they hold for carried keys too.
            for position, c, flags in zip(itertools.count(), v.criteria, v.prompt.flags):
                yield (vid, position, c.key, c.title, c.description, c.category.value,
                       c.weight, _array(c.tags) if c.tags else "{}",
                       _array(flags) if flags else "{}")  # fmt: skip
            bar.update()


def _array(items: Sequence[str]) -> str:
    """A Postgres array literal: psycopg's generic list dumper is several
    times slower, and there are two lists per criterion."""
    quoted = (s.replace("\\", "\\\\").replace('"', '\\"') for s in items)
    return "{" + ",".join(f'"{q}"' for q in quoted) + "}"


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


def _check_heads(cur: psycopg.Cursor[Any], plan: _Plan) -> None:
    """Lock the rubrics we are about to version and make sure nobody moved
    their head since we planned (an editor saving meanwhile)."""
    expected = {k.rubric_id: k.head_id for k in plan.changed if k.rubric_id is not None}
    if not expected:
        return
    cur.execute(
        "SELECT id, head_version_id FROM rubrics WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
        (list(expected),),
    )
    moved = [rid for rid, head in cur.fetchall() if expected[rid] != head]
    if moved:
        raise StaleEditError(
            f"{len(moved)} rubric(s) were edited while the import ran (e.g. rubric "
            f"{moved[0]}); nothing was imported, run the import again"
        )


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
