"""The files a snapshot is written as: RaR JSONL, a Hugging Face `datasets`
folder, a TRL GRPO dataset folder and verl's parquet.

No database: every writer takes the snapshot's rows (see
`models.data.snapshot_rows`) and returns the path it wrote. Writing the
same rows twice gives byte-identical files, so a snapshot's files can be checked
against its manifest. The export folder is staged beside its target and moved
into place whole, so a failure leaves nothing half-written.

Nothing here touches the network: `Dataset(...)` over an in-memory Arrow table
and `save_to_disk` never call the Hub. We do not force HF_*_OFFLINE ourselves
because the trainer imports this module in a process that may need the Hub for
its model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Dataset, DatasetInfo, Features, List, Value
from datasets.table import InMemoryTable
from rubricforge.models.core.errors import ExportError
from rubricforge.models.data.snapshot_rows import SnapshotRow

_STR = Value("string")
CHAT = List({"role": _STR, "content": _STR})
RUBRIC = List({"title": _STR, "description": _STR, "category": _STR, "weight": Value("float64")})

# The canonical row, column for column (the HF folder holds exactly these).
ROW_FEATURES = Features(
    {
        "uid": _STR,
        "dataset": _STR,
        "domain": _STR,
        "question_source": _STR,
        "question": _STR,
        "reference_answer": _STR,
        "messages": CHAT,
        "rubric": RUBRIC,
        "rubric_list": List(_STR),
        "rubric_count": Value("int32"),
    }
)

TRL_FEATURES = Features(
    {
        "prompt": CHAT,
        "rubric": RUBRIC,
        "reference_answer": _STR,
        "uid": _STR,
        "dataset": _STR,
    }
)

VERL_SCHEMA = pa.schema(
    [
        ("data_source", pa.string()),
        ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        ("ability", pa.string()),
        ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
        (
            "extra_info",
            pa.struct(
                [
                    ("index", pa.int64()),
                    ("uid", pa.string()),
                    ("snapshot", pa.string()),
                    ("snapshot_sha256", pa.string()),
                    ("question", pa.string()),
                    ("reference_answer", pa.string()),
                ]
            ),
        ),
    ]
)


@dataclass(frozen=True)
class SnapshotMeta:
    """What a writer needs to know about the snapshot besides its rows."""

    id: int
    name: str
    sha256: str


def write_jsonl(rows: Sequence[SnapshotRow], folder: Path, meta: SnapshotMeta) -> Path:
    """RaR's published row shape (rubric items without category: the category is
    the rubric_list prefix), plus uid and domain; `models.data.importer` reads it back."""
    path = folder / "rar.jsonl"
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            rar = {
                "uid": row.uid,
                "domain": row.domain,
                "question_source": row.question_source,
                "question": row.question,
                "reference_answer": row.reference_answer,
                "rubric": [
                    {"title": c.title, "description": c.description, "weight": c.weight}
                    for c in row.rubric
                ],
                "rubric_list": row.rubric_list,
                "rubric_count": len(row.rubric),
            }
            fh.write(json.dumps(rar, ensure_ascii=False))
            fh.write("\n")
    return path


def _save_dataset(table: pa.Table, features: Features, path: Path, meta: SnapshotMeta) -> Path:
    # Without an explicit fingerprint, save_to_disk writes a random one into
    # state.json and two writes of the same snapshot would differ. Derive it from
    # the content hash and the folder, so equal content gives equal bytes.
    fingerprint = hashlib.sha256(f"{meta.sha256}:{path.name}".encode()).hexdigest()[:16]
    info = DatasetInfo(
        description=f"rubricforge snapshot '{meta.name}' (id {meta.id}), sha256 {meta.sha256}",
        features=features,
    )
    Dataset(InMemoryTable(table), info=info, fingerprint=fingerprint).save_to_disk(str(path))
    return path


def write_hf(rows: Sequence[SnapshotRow], folder: Path, meta: SnapshotMeta) -> Path:
    table = pa.Table.from_pylist([r.to_dict() for r in rows], schema=ROW_FEATURES.arrow_schema)
    return _save_dataset(table, ROW_FEATURES, folder / "hf", meta)


def trl_columns(rows: Sequence[SnapshotRow]) -> dict[str, list[Any]]:
    """TRL's GRPOTrainer takes the conversational `prompt` column and passes every
    other column (here `rubric`, `reference_answer`, ...) to reward functions as
    keyword arguments. The TRL export and the trainer's dataset both use these."""
    return {
        "prompt": [r.chat() for r in rows],
        "rubric": [r.rubric_column() for r in rows],
        "reference_answer": [r.reference_answer for r in rows],
        "uid": [r.uid for r in rows],
        "dataset": [r.dataset for r in rows],
    }


def write_trl(rows: Sequence[SnapshotRow], folder: Path, meta: SnapshotMeta) -> Path:
    table = pa.Table.from_pydict(trl_columns(rows), schema=TRL_FEATURES.arrow_schema)
    return _save_dataset(table, TRL_FEATURES, folder / "trl", meta)


def rubric_json(rubric: list[dict[str, Any]]) -> str:
    """The rubric as verl's `ground_truth` string (compact, fixed key order)."""
    return json.dumps(rubric, ensure_ascii=False, separators=(",", ":"))


def write_verl(rows: Sequence[SnapshotRow], folder: Path, meta: SnapshotMeta) -> Path:
    """verl's RL dataset shape: data_source, chat `prompt`, ability, reward_model,
    extra_info. The reward function gets ground_truth (the rubric) and extra_info."""
    columns = {
        "data_source": [r.dataset for r in rows],
        "prompt": [r.chat() for r in rows],
        "ability": [r.domain for r in rows],
        "reward_model": [
            {"style": "rubric", "ground_truth": rubric_json(r.rubric_column())} for r in rows
        ],
        "extra_info": [
            {
                "index": i,
                "uid": r.uid,
                "snapshot": meta.name,
                "snapshot_sha256": meta.sha256,
                "question": r.question,
                "reference_answer": r.reference_answer,
            }
            for i, r in enumerate(rows)
        ],
    }
    path = folder / "verl.parquet"
    pq.write_table(pa.Table.from_pydict(columns, schema=VERL_SCHEMA), path)
    return path


Writer = Callable[[Sequence[SnapshotRow], Path, SnapshotMeta], Path]

WRITERS: dict[str, Writer] = {
    "jsonl": write_jsonl,
    "hf": write_hf,
    "trl": write_trl,
    "verl": write_verl,
}
FORMATS = tuple(WRITERS)
# Everything a writer may create at the top of an export folder, plus the manifest
# and the preference pairs' files (`models.data.pair_formats`).
OUTPUT_NAMES = frozenset(
    {"rar.jsonl", "hf", "trl", "verl.parquet", "manifest.json", "dpo_pairs.jsonl", "ranked.jsonl"}
)


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under folder, by posix path relative to it, sorted."""
    hashes = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        hashes[path.relative_to(folder).as_posix()] = digest.hexdigest()
    return hashes


# --- the export folder ---------------------------------------------------------


def check_formats(formats: Sequence[str]) -> list[str]:
    chosen = list(dict.fromkeys(f.strip().lower() for f in formats if f.strip()))
    unknown = [f for f in chosen if f not in WRITERS]
    if unknown or not chosen:
        what = f"unknown export format(s): {', '.join(unknown)}" if unknown else "no format given"
        raise ExportError(f"{what}; valid formats: {', '.join(FORMATS)}")
    return chosen


def check_target(out_dir: Path) -> None:
    """Refuse folders we must not replace, before any work is done."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir} is a file; give a folder to write the snapshot into")
    # An export replaces its folder as a whole: never the folder we stand in or one above it.
    target, here = out_dir.resolve(), Path.cwd().resolve()
    if target == here or target in here.parents or target == target.parent:
        raise ExportError(
            f"{out_dir} is the current folder or one above it, which an export would replace; "
            "give a new folder, e.g. --out ./snapshot; nothing was written"
        )
    # The files are staged in a folder beside out_dir (see `staging`), so its parent,
    # or the nearest folder that exists above it, must take new entries too.
    above = out_dir.absolute().parent
    while not above.exists() and above != above.parent:
        above = above.parent
    if not os.access(above, os.W_OK | os.X_OK):
        raise ExportError(
            f"{above} is not writable, so {out_dir} cannot be written there; nothing was written"
        )
    if not out_dir.is_dir():
        return
    foreign = sorted(p.name for p in out_dir.iterdir() if p.name not in OUTPUT_NAMES)
    if foreign:
        raise ExportError(
            f"{out_dir} holds files that are not a rubricforge export ({', '.join(foreign[:5])}); "
            "give a new or empty folder so nothing of yours is replaced"
        )
    if not os.access(out_dir, os.W_OK):
        raise ExportError(f"{out_dir} is not writable; nothing was written")


@contextmanager
def staging(out_dir: Path) -> Iterator[Path]:
    """A temporary folder beside out_dir that replaces it only when everything in
    it was written, so a failure leaves no partial files behind."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))
    try:
        yield tmp
        tmp.chmod(0o755)  # mkdtemp makes it private; the export is meant to be shared
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.{uuid.uuid4().hex[:8]}.old")
            os.rename(out_dir, old)
            try:
                os.rename(tmp, out_dir)
            except OSError:
                os.rename(old, out_dir)
                raise
            shutil.rmtree(old)
        else:
            os.rename(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
