"""Reading an import file's rows, one at a time (JSONL, CSV, Parquet), with line
numbers: JSONL its physical line, CSV the row number with the header as line 1,
Parquet the row index + 1.

A row comes out as a dict, or as a str saying what is wrong with that line (bad
bytes, bad JSON, nested too deeply, the wrong number of cells), so one run
reports every bad line. NUL characters, which PostgreSQL cannot store, are
replaced with U+FFFD here (`models.core.text_safety`), and the lines where that
happened are recorded in the caller's `nul_lines`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rubricforge.models.core.text_safety import NUL, scrub

SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
NESTED_TOO_DEEPLY = "nested too deeply (lists or objects inside each other beyond any rubric)"

Rows = Iterator[tuple[int, dict[str, Any] | str]]


def read_rows(path: Path, file_format: str, nul_lines: dict[int, int]) -> Rows:
    """(line, row) pairs; a str instead of a row is a problem with that line.
    `nul_lines` gets {line: strings whose NULs were replaced}."""
    if file_format == "jsonl":
        return _jsonl(path, nul_lines)
    if file_format == "csv":
        return _csv(path, nul_lines)
    return _parquet(path, nul_lines)


def _jsonl(path: Path, nul_lines: dict[int, int]) -> Rows:
    with path.open("rb") as fh:
        for number, data in enumerate(fh, start=1):
            try:
                # Decoded line by line, so bad bytes are reported on their line.
                text = data.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                yield number, f"not UTF-8 text ({exc.reason} at byte {exc.start})"
                continue
            if not text.strip():
                continue
            raw_nuls = text.count(NUL)
            if raw_nuls:  # a bare NUL is not even valid JSON: read it as U+FFFD
                text = text.replace(NUL, "\\ufffd")
            try:
                row = json.loads(text)
            except ValueError as exc:
                yield number, f"not valid JSON: {exc}"
                continue
            except RecursionError:
                yield number, NESTED_TOO_DEEPLY
                continue
            if not isinstance(row, dict):
                yield number, f"expected a JSON object, got {type(row).__name__}"
                continue
            if raw_nuls or "\\u0000" in text:  # only then is the row walked
                row, count = scrub(row)
                if count or raw_nuls:
                    nul_lines[number] = count + raw_nuls
            yield number, row


def _csv(path: Path, nul_lines: dict[int, int]) -> Rows:
    # The default 128 KiB cell limit is too small for long reference answers.
    csv.field_size_limit(2**31 - 1)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            return
        header, _ = scrub(header)
        for number, cells in enumerate(reader, start=2):
            if len(cells) != len(header):
                yield number, f"has {len(cells)} cells, the header has {len(header)}"
                continue
            if any(NUL in c for c in cells):
                cells, count = scrub(cells)
                nul_lines[number] = count
            yield number, dict(zip(header, cells, strict=True))


def _parquet(path: Path, nul_lines: dict[int, int]) -> Rows:
    for index, row in enumerate(_parquet_rows(path)):
        cleaned, count = scrub(row)  # Parquet has no text to search first: walk each row
        if count:
            nul_lines[index + 1] = count
        yield index + 1, cleaned


def _parquet_rows(path: Path) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=2048):
        yield from batch.to_pylist()


def expected_rows(path: Path, file_format: str) -> int | None:
    """How many rows the file holds, for a progress bar: lines of a JSONL file (a
    byte scan, no parsing), a Parquet file's own count; None for CSV (a quoted
    field may span lines) or a file that cannot be read."""
    try:
        if file_format == "parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        if file_format == "jsonl":
            with path.open("rb") as fh:
                count, last = 0, b"\n"
                while chunk := fh.read(1 << 20):
                    count += chunk.count(b"\n")
                    last = chunk[-1:]
                return count + (last != b"\n")
    except Exception:  # the reader reports what is wrong with the file, line by line
        return None
    return None


def progress_rows(rows: Rows, enabled: bool, total: int | None = None) -> Rows:
    """Rows through a tqdm bar ("12,000/50,000 rows") when enabled. Without a known
    total the bar shows no count until a row is read (never "0 rows" for a file
    that has them)."""
    if not enabled:
        return rows
    from tqdm import tqdm

    fmt = None if total else "{desc}: {n_fmt} rows read [{elapsed}, {rate_fmt}]"
    return iter(
        tqdm(
            rows, desc="reading", unit=" rows", total=total, leave=False, bar_format=fmt, delay=0.5
        )
    )
