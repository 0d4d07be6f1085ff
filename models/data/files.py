"""Files in and out of the app: an uploaded file's bytes imported, and a snapshot's
files as bytes to download. The Data page calls these; the rules stay in
`models.data.importer` and `models.data.exporter`, which these only wrap in temporary folders.
"""

from __future__ import annotations

import io
import json
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from rubricforge.models.accounts.permissions import Action, UserInfo, require
from rubricforge.models.core.errors import ImportFileError
from rubricforge.models.data.exporter import write_snapshot
from rubricforge.models.data.importer import ImportResult, import_file
from sqlalchemy import Engine

NAME_MAX = 120  # characters of an uploaded file's name we keep
# The largest upload the app takes (Streamlit's `server.maxUploadSize`, set by
# `rubricforge serve`, says the same); larger files go through `rubricforge import`.
MAX_UPLOAD_MB = 256
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")
# Zip entries carry this date, so the same snapshot always zips to the same bytes.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def upload_name(filename: str) -> str:
    """A browser's file name, safe to write in a temporary folder: the last path
    part, odd characters replaced, shortened around its suffix."""
    name = _UNSAFE.sub("_", Path(filename.replace("\\", "/")).name).strip(" .")
    suffix = Path(name).suffix.lower()
    stem = name[: len(name) - len(suffix)] if suffix else name
    stem = stem[: NAME_MAX - len(suffix)] or "upload"
    return f"{stem}{suffix}"


def import_upload(
    engine: Engine,
    data: bytes,
    filename: str,
    dataset: str,
    *,
    actor: UserInfo,
    dry_run: bool = False,
    replace_curated: bool = False,
) -> ImportResult:
    """Import an uploaded file (its bytes and the name the browser gave, whose suffix
    says the format) like `import_file`: all or nothing; `dry_run` and
    `replace_curated` as there. ImportFileError names the uploaded file, not the
    temporary copy; a file over MAX_UPLOAD_MB is refused before it is written."""
    require(actor, Action.import_data)
    name = upload_name(filename)
    if len(data) > MAX_UPLOAD_MB * 2**20:
        raise ImportFileError(
            name,
            [(0, f"the file is {len(data) / 2**20:.0f} MB; the app takes up to {MAX_UPLOAD_MB} "
                 "MB: import larger files with `rubricforge import`")],
        )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="rubricforge-upload-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            return import_file(
                engine,
                path,
                dataset,
                actor=actor,
                dry_run=dry_run,
                replace_curated=replace_curated,
            )
        except ImportFileError as exc:
            raise ImportFileError(name, exc.problems) from None


@dataclass(frozen=True)
class SnapshotFiles:
    """A snapshot's files for download: the RaR JSONL, and a zip of everything
    `write_snapshot` writes (JSONL, HF folder, TRL folder, verl parquet, manifest)
    inside one folder named `base`."""

    snapshot_id: int
    sha256: str
    base: str  # file-name stem: "snapshot-<id>-<name>"
    jsonl: bytes
    archive: bytes

    @property
    def jsonl_name(self) -> str:
        return f"{self.base}-rar.jsonl"

    @property
    def archive_name(self) -> str:
        return f"{self.base}.zip"


def snapshot_base(snapshot_id: int, name: str) -> str:
    slug = _SLUG.sub("-", name).strip(".-")[:80]
    return f"snapshot-{snapshot_id}-{slug}" if slug else f"snapshot-{snapshot_id}"


def snapshot_files(engine: Engine, snapshot_id: int) -> SnapshotFiles:
    """Write the snapshot (ExportError if it cannot be, e.g. a prompt was edited
    after it was frozen) and read its files back. Same snapshot, same bytes."""
    with tempfile.TemporaryDirectory(prefix="rubricforge-export-") as tmp:
        out = Path(tmp) / "export"
        paths = write_snapshot(engine, snapshot_id, out)
        manifest = paths["manifest"].read_text(encoding="utf-8")
        meta = _manifest(manifest)
        base = snapshot_base(snapshot_id, meta["name"])
        return SnapshotFiles(
            snapshot_id=snapshot_id,
            sha256=meta["sha256"],
            base=base,
            jsonl=paths["jsonl"].read_bytes(),
            archive=zip_folder(out, base),
        )


def _manifest(text: str) -> dict[str, str]:
    data = json.loads(text)
    return {"name": str(data["name"]), "sha256": str(data["sha256"])}


def zip_folder(folder: Path, root: str) -> bytes:
    """Every file under folder, as `root/<relative path>`, sorted, with fixed dates."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(f"{root}/{path.relative_to(folder).as_posix()}", _ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    return buffer.getvalue()
