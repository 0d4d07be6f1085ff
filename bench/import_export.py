"""Import and export at RaR scale: how far the importer is from a raw COPY.

    python bench/import_export.py --prompts 20000 --criteria 15

Generates a RaR-shaped JSONL file (like RaR-Medicine-20k), then times
1. `import_file` of the whole file (read, validate, plan, write, commit);
2. the COPY floor: the same prompt and criteria rows, already in memory as COPY
   text, COPYed into scratch tables of the same shape (`LIKE ... INCLUDING ALL`:
   same columns, defaults, indexes and checks) and committed;
3. export: every rubric approved with one UPDATE, one snapshot, then each of
   the four formats written on its own.
Targets (issue "Foundation"): import <= 30 s and <= 4x the COPY floor.

Without --database-url it runs a throwaway embedded PostgreSQL under /tmp.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from rubricforge.models.accounts.permissions import OPERATOR
from sqlalchemy import Engine, create_engine, text

REPO = Path(__file__).resolve().parent.parent

from rubricforge.models.core import migrate
from rubricforge.models.core.db import normalize_url
from rubricforge.models.core.embedded import EmbeddedServer
from rubricforge.models.data.importer import import_file

IMPORT_LIMIT_S = 30.0
IMPORT_RATIO_LIMIT = 4.0
FORMATS = ["jsonl", "hf", "trl", "verl"]
# The same mix as RaR's drafts: weight -> category prefix.
PLAN = [(5, "Essential")] * 4 + [(4, "Important"), (3, "Important")] * 3 + [(2, "Optional")] * 3
PLAN += [(-1, "Pitfall"), (-2, "Pitfall")]
WORDS = [
    "patient", "dose", "renal", "hepatic", "presents", "acute", "chronic", "infection",
    "therapy", "diagnosis", "differential", "imaging", "marker", "lesion", "cardiac",
    "pulmonary", "syndrome", "deficiency", "reaction", "clinical", "evidence", "mechanism",
    "risk", "first-line", "contraindicated", "history", "symptom",
]  # fmt: skip


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def make_file(path: Path, prompts: int, criteria: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(prompts):
            plan = (PLAN * (criteria // len(PLAN) + 1))[:criteria]
            items = []
            for j, (weight, _) in enumerate(plan):
                verb = "Does not" if weight < 0 and j % 2 else "Mentions"
                items.append(
                    {
                        "title": f"{verb} {rng.choice(WORDS)} {j}".title(),
                        "description": f"{verb} {sentence(rng, 11)}",
                        "weight": weight,
                    }
                )
            row = {
                "uid": f"bench-{i:06d}",
                "domain": "rar_medicine",
                "question_source": "bench",
                "question": sentence(rng, 50),
                "reference_answer": sentence(rng, 100),
                "rubric": items,
                "rubric_list": [
                    f"{c} Criteria: {it['description']}"
                    for (_, c), it in zip(plan, items, strict=True)
                ],  # fmt: skip
                "rubric_count": len(items),
            }
            fh.write(json.dumps(row) + "\n")


@contextmanager
def timer(results: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    results[name] = time.perf_counter() - start


def _scratch(cur: psycopg.Cursor[Any], table: str, foreign_keys: bool) -> str:
    """A table of the same shape: columns, defaults, checks, indexes and, when
    asked, the same foreign keys (pointing at the real parent rows)."""
    name = f"bench_{table}"
    cur.execute(f"DROP TABLE IF EXISTS {name}")
    cur.execute(f"CREATE TABLE {name} (LIKE {table} INCLUDING ALL)")
    if foreign_keys:
        cur.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'f'",
            (table,),
        )
        for (definition,) in cur.fetchall():
            cur.execute(f"ALTER TABLE {name} ADD {definition}")
    return name


def copy_floor(engine: Engine, dataset: str, *, foreign_keys: bool) -> float:
    """Seconds to COPY the dataset's prompt and criteria rows, already in memory
    as COPY text, into fresh tables of the same shape, and commit."""
    queries = {
        "prompts": "SELECT p.* FROM prompts p JOIN datasets d ON d.id = p.dataset_id "
        "WHERE d.name = {d}",
        "criteria": "SELECT c.* FROM criteria c JOIN rubric_versions v ON v.id = c.version_id "
        "JOIN rubrics r ON r.id = v.rubric_id JOIN prompts p ON p.id = r.prompt_id "
        "JOIN datasets d ON d.id = p.dataset_id WHERE d.name = {d}",
    }
    raw_conn = engine.raw_connection()
    try:
        conn = raw_conn.driver_connection
        assert isinstance(conn, psycopg.Connection)
        with conn.cursor() as cur:
            data: dict[str, bytes] = {}
            for table, query in queries.items():
                select = sql.SQL(query).format(d=sql.Literal(dataset))  # type: ignore[arg-type]
                with cur.copy(sql.SQL("COPY ({}) TO STDOUT").format(select)) as copy:
                    data[table] = b"".join(bytes(block) for block in copy)
            # With foreign keys, scratch prompts point at the real dataset and
            # scratch criteria at the real rubric versions, as the import's do.
            names = {t: _scratch(cur, t, foreign_keys) for t in data}
            conn.commit()
            start = time.perf_counter()
            for table, payload in data.items():
                with cur.copy(f"COPY {names[table]} FROM STDIN") as copy:
                    for i in range(0, len(payload), 1 << 20):
                        copy.write(payload[i : i + (1 << 20)])
            conn.commit()
            elapsed = time.perf_counter() - start
            for name in names.values():
                cur.execute(f"DROP TABLE {name}")
            conn.commit()
    finally:
        raw_conn.close()
    return elapsed


def export_all(engine: Engine, dataset: str, out_dir: Path, results: dict[str, float]) -> None:
    from datasets.utils.logging import disable_progress_bar
    from rubricforge.models.data.exporter import ExportFilter, create_snapshot, write_snapshot

    disable_progress_bar()  # the table below is the output

    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE rubrics SET status = 'approved', approved_version_id = head_version_id "
                "WHERE prompt_id IN (SELECT p.id FROM prompts p JOIN datasets d "
                "ON d.id = p.dataset_id WHERE d.name = :d)"
            ),
            {"d": dataset},
        )
    with timer(results, "export: snapshot"):
        info = create_snapshot(
            engine, ExportFilter(dataset=dataset), name=f"bench-{dataset}", actor=OPERATOR
        )
    for fmt in FORMATS:
        with timer(results, f"export: {fmt}"):
            write_snapshot(engine, info.id, out_dir / fmt, formats=[fmt])
    with timer(results, "export: all 4 at once"):
        write_snapshot(engine, info.id, out_dir / "all", formats=FORMATS)


def report(results: dict[str, float], prompts: int, criteria: int) -> bool:
    floor = results["COPY floor"]
    ratio = results["import"] / floor
    print(f"\n{prompts} prompts x {criteria} criteria ({prompts * criteria} criteria rows)")
    print(f"{'step':<34}{'seconds':>9}  target")
    print(f"{'import (import_file)':<34}{results['import']:>9.2f}  <= {IMPORT_LIMIT_S:.0f} s")
    print(f"{'COPY floor, same tables + FKs':<34}{floor:>9.2f}")
    print(f"{'import / COPY floor':<34}{ratio:>8.2f}x  <= {IMPORT_RATIO_LIMIT:.0f}x")
    bare = results["COPY floor without FKs"]
    print(f"{'COPY floor without FK checks':<34}{bare:>9.2f}")
    print(f"{'import / floor without FKs':<34}{results['import'] / bare:>8.2f}x")
    print(f"{'re-import, nothing changed':<34}{results['re-import']:>9.2f}")
    for name, seconds in results.items():
        if name.startswith("export"):
            print(f"{name:<34}{seconds:>9.2f}")
    if "export: snapshot" in results:
        total = results["export: snapshot"] + results["export: all 4 at once"]
        print(f"{'export: snapshot + all 4 formats':<34}{total:>9.2f}")
    ok = results["import"] <= IMPORT_LIMIT_S and ratio <= IMPORT_RATIO_LIMIT
    print(f"import targets {'met' if ok else 'MISSED'}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=20000)
    parser.add_argument("--criteria", type=int, default=15)
    parser.add_argument("--database-url", help="default: a throwaway embedded server in /tmp")
    parser.add_argument("--skip-export", action="store_true", help="time the import only")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="rf-bench-", dir="/tmp"))
    server = None if args.database_url else EmbeddedServer(work / "home")
    try:
        url = normalize_url(args.database_url) if server is None else server.ensure_running()
        migrate.upgrade(url)
        engine = create_engine(url)
        data = work / "rar_bench.jsonl"
        make_file(data, args.prompts, args.criteria)
        dataset = f"bench-{int(time.time())}"
        results: dict[str, float] = {}
        with timer(results, "import"):
            res = import_file(engine, data, dataset, actor=OPERATOR)
        print(res.summary())
        with timer(results, "re-import"):
            import_file(engine, data, dataset, actor=OPERATOR)
        results["COPY floor"] = copy_floor(engine, dataset, foreign_keys=True)
        results["COPY floor without FKs"] = copy_floor(engine, dataset, foreign_keys=False)
        if not args.skip_export:
            export_all(engine, dataset, work / "export", results)
        ok = report(results, args.prompts, args.criteria)
        engine.dispose()
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
