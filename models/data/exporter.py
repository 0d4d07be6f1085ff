"""Export snapshots: approved rubric versions frozen under a content hash, and
written out as training files.

A snapshot points at rubric *versions*, which never change, so an edit or a
re-approval after the snapshot does not change what it writes. Its sha256 is
taken over the canonical rows (models/data/snapshot_rows.py), which is also
what the reward preview and the trainer build their data from.

Approval date (for the date filters) = when the approved version was approved:
the newest RubricReview with action `approve` for that version. Rubrics that
were approved without a review event (e.g. set directly by a script) fall back
to Rubric.updated_at.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rubricforge.models.accounts.orm import User
from rubricforge.models.accounts.permissions import Action, UserInfo, require
from rubricforge.models.core.audit import audit
from rubricforge.models.core.db import session_scope
from rubricforge.models.core.errors import ExportError
from rubricforge.models.data.export_formats import (
    FORMATS,
    WRITERS,
    SnapshotMeta,
    check_formats,
    check_target,
    file_hashes,
    staging,
)
from rubricforge.models.data.orm import ExportSnapshot, SnapshotItem
from rubricforge.models.data.snapshot_rows import (
    get_snapshot,
    read_rows,
    rows_sha256,
    snapshot_items,
)
from rubricforge.models.rubrics.orm import (
    Dataset,
    Prompt,
    ReviewAction,
    Rubric,
    RubricReview,
    RubricStatus,
)
from sqlalchemy import Engine, Subquery, func, insert, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

NAME_MAX = 200  # ExportSnapshot.name is String(200)


def _parse_date(value: str | None, option: str) -> datetime | None:
    if value is None or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ExportError(
            f"{option} '{value}' is not an ISO date; "
            "use e.g. 2025-07-01 or 2025-07-01T12:00:00+00:00"
        ) from None
    # A date without a zone is read as UTC, so the same command selects the same rows anywhere.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ExportFilter:
    """Which approved rubrics a snapshot takes. Dates: since is inclusive, until exclusive."""

    dataset: str | None = None
    tag: str | None = None
    approved_since: datetime | None = None
    approved_until: datetime | None = None

    @classmethod
    def parse(
        cls,
        *,
        dataset: str | None,
        tag: str | None,
        approved_since: str | None,
        approved_until: str | None,
    ) -> ExportFilter:
        since = _parse_date(approved_since, "approved_since")
        until = _parse_date(approved_until, "approved_until")
        if since and until and since >= until:
            raise ExportError(
                f"approved_since ({since.isoformat()}) must be before approved_until "
                f"({until.isoformat()}): no rubric could match"
            )
        return cls(
            dataset=(dataset or "").strip() or None,
            tag=(tag or "").strip() or None,
            approved_since=since,
            approved_until=until,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "tag": self.tag,
            "approved_since": self.approved_since.isoformat() if self.approved_since else None,
            "approved_until": self.approved_until.isoformat() if self.approved_until else None,
        }

    def describe(self) -> str:
        return describe_filter(self.to_json())


def describe_filter(data: dict[str, Any]) -> str:
    """A stored filter (`ExportFilter.to_json`) in words: "dataset=x, tag=y"."""
    parts = [f"{k}={v}" for k, v in data.items() if v is not None]
    return ", ".join(parts) if parts else "no filter"


@dataclass(frozen=True)
class SnapshotInfo:
    id: int
    name: str
    sha256: str
    row_count: int


# --- reading rows -------------------------------------------------------------


def _matching(flt: ExportFilter) -> Subquery:
    """(position, version_id, prompt_id) of the approved versions the filter selects,
    in export order: dataset name, then external id, byte-wise so the order does
    not depend on the server's collation."""
    order = (Dataset.name.collate("C"), Prompt.external_id.collate("C"))
    query = (
        select(
            (func.row_number().over(order_by=order) - 1).label("position"),
            Rubric.approved_version_id.label("version_id"),
            Prompt.id.label("prompt_id"),
        )
        .select_from(Rubric)
        .join(Prompt, Prompt.id == Rubric.prompt_id)
        .join(Dataset, Dataset.id == Prompt.dataset_id)
        # Exportable until another version is approved or the rubric retired.
        .where(Rubric.approved_version_id.is_not(None), Rubric.status != RubricStatus.retired)
    )
    if flt.dataset is not None:
        query = query.where(Dataset.name == flt.dataset)
    if flt.tag is not None:
        query = query.where(Prompt.tags.contains([flt.tag]))  # @>, served by the GIN index
    if flt.approved_since or flt.approved_until:
        approved_at = func.coalesce(
            select(func.max(RubricReview.created_at))
            .where(
                RubricReview.rubric_id == Rubric.id,
                RubricReview.version_id == Rubric.approved_version_id,
                RubricReview.action == ReviewAction.approve,
            )
            .correlate(Rubric)
            .scalar_subquery(),
            Rubric.updated_at,
        )
        if flt.approved_since:
            query = query.where(approved_at >= flt.approved_since)
        if flt.approved_until:
            query = query.where(approved_at < flt.approved_until)
    return query.subquery()


@dataclass(frozen=True)
class SnapshotRecord:
    """A snapshot as listed: who froze what, when."""

    id: int
    name: str
    row_count: int
    sha256: str
    created_at: datetime
    filter: str  # in words (`describe_filter`)
    created_by: str  # username; "cli" for the local operator


def list_snapshots(session: Session, limit: int = 500) -> list[SnapshotRecord]:
    """Snapshots, newest first."""
    rows = session.execute(
        select(
            ExportSnapshot.id,
            ExportSnapshot.name,
            ExportSnapshot.row_count,
            ExportSnapshot.sha256,
            ExportSnapshot.created_at,
            ExportSnapshot.filter,
            User.username,
        )
        .outerjoin(User, User.id == ExportSnapshot.created_by_id)
        .order_by(ExportSnapshot.created_at.desc(), ExportSnapshot.id.desc())
        .limit(limit)
    ).all()
    return [
        SnapshotRecord(i, name, count, sha, created, describe_filter(flt or {}), who or "cli")
        for i, name, count, sha, created, flt, who in rows
    ]


# --- creating a snapshot ------------------------------------------------------


def create_snapshot(
    engine: Engine,
    flt: ExportFilter,
    *,
    name: str | None = None,
    actor: UserInfo,
) -> SnapshotInfo:
    """Freeze the approved versions the filter selects. All or nothing: an empty
    selection or a taken name raises ExportError and writes no row."""
    require(actor, Action.export)
    if name is not None:
        name = name.strip()
        if not name or len(name) > NAME_MAX:
            raise ExportError(f"snapshot name must be 1 to {NAME_MAX} characters")
    try:
        with session_scope(engine) as session:
            if name is not None:
                _check_name_free(session, name)
            if (
                flt.dataset is not None
                and session.scalar(select(Dataset.id).where(Dataset.name == flt.dataset)) is None
            ):
                raise ExportError(f"dataset '{flt.dataset}' does not exist; nothing was exported")
            # The name is provisional until the hash is known; nobody sees it
            # because the whole thing is one transaction.
            snap = ExportSnapshot(
                name=name or f"pending-{uuid.uuid4().hex}",
                filter=flt.to_json(),
                sha256="",
                row_count=0,
                created_by_id=actor.id,
            )
            session.add(snap)
            session.flush()
            matched = _matching(flt)
            session.execute(
                insert(SnapshotItem).from_select(
                    ["snapshot_id", "position", "rubric_version_id", "prompt_id"],
                    select(
                        literal(snap.id),
                        matched.c.position,
                        matched.c.version_id,
                        matched.c.prompt_id,
                    ),
                )
            )
            rows = read_rows(session, snapshot_items(snap.id))
            if not rows:
                raise ExportError(
                    f"no approved rubrics match {flt.describe()}; approve some rubrics or "
                    "widen the filter. Nothing was exported."
                )
            snap.sha256 = rows_sha256(rows)
            snap.row_count = len(rows)
            if name is None:
                generated = f"snapshot-{datetime.now(UTC):%Y%m%d-%H%M%S}-{snap.sha256[:8]}"
                if _name_taken(session, generated) is not None:
                    # The same content frozen twice within a second: the id tells them apart.
                    generated = f"{generated}-{snap.id}"
                snap.name = generated
            audit(
                session,
                actor=actor.username,
                action="export.snapshot",
                entity="export_snapshot",
                entity_id=snap.id,
                details={
                    "name": snap.name,
                    "sha256": snap.sha256,
                    "row_count": snap.row_count,
                    "filter": snap.filter,
                },
                user_id=actor.id,
            )
            return SnapshotInfo(snap.id, snap.name, snap.sha256, snap.row_count)
    except IntegrityError as exc:
        # Someone took the name between our check and our commit.
        if "uq_export_snapshots_name" in str(exc.orig):
            which = f"'{name}'" if name else "the generated name"
            raise ExportError(
                f"another snapshot took {which} meanwhile; nothing was exported, try again"
            ) from None
        raise


def _name_taken(session: Session, name: str) -> int | None:
    return session.scalar(select(ExportSnapshot.id).where(ExportSnapshot.name == name))


def _check_name_free(session: Session, name: str) -> None:
    taken = _name_taken(session, name)
    if taken is not None:
        raise ExportError(
            f"a snapshot named '{name}' already exists (id {taken}); choose another name"
        )


# --- writing files ------------------------------------------------------------


def write_snapshot(
    engine: Engine,
    snapshot_id: int,
    out_dir: Path,
    *,
    formats: Sequence[str] = FORMATS,
) -> dict[str, Path]:
    """Write the snapshot's files into out_dir (created, or replaced if it holds a
    previous export) plus manifest.json. Same snapshot, same bytes."""
    chosen = check_formats(formats)
    with session_scope(engine) as session:
        snap = get_snapshot(session, snapshot_id)
        rows = read_rows(session, snapshot_items(snapshot_id))
        manifest: dict[str, Any] = {
            "snapshot_id": snap.id,
            "name": snap.name,
            "sha256": snap.sha256,
            "row_count": snap.row_count,
            "filter": snap.filter,
            "created_at": snap.created_at.astimezone(UTC).isoformat(),  # not the session zone
            "formats": chosen,
        }
    if rows_sha256(rows) != manifest["sha256"]:
        # Versions are immutable, but prompt text is not: someone edited a
        # prompt after the snapshot froze it.
        raise ExportError(
            f"snapshot {snapshot_id} no longer matches its sha256 (a prompt was edited after it "
            "was frozen); create a new snapshot. Nothing was written."
        )
    out_dir = Path(out_dir)
    check_target(out_dir)
    meta = SnapshotMeta(id=snapshot_id, name=manifest["name"], sha256=manifest["sha256"])
    try:
        with staging(out_dir) as tmp:
            written = {fmt: WRITERS[fmt](rows, tmp, meta).name for fmt in chosen}
            manifest["files"] = file_hashes(tmp)
            (tmp / "manifest.json").write_text(
                json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                encoding="utf-8",
            )
    except OSError as exc:
        where = exc.filename or out_dir
        raise ExportError(
            f"cannot write snapshot {snapshot_id} to {out_dir}: {exc.strerror or exc} ({where}); "
            "nothing was written"
        ) from None
    paths = {fmt: out_dir / name for fmt, name in written.items()}
    paths["manifest"] = out_dir / "manifest.json"
    return paths
