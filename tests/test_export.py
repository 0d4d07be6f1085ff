"""Export snapshots: a researcher freezes approved rubrics and downloads them as
RaR JSONL, a Hugging Face folder, a TRL GRPO dataset and verl's parquet."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datasets import load_from_disk
from rubricforge.models import (
    AuditEntry,
    Category,
    Criterion,
    Dataset,
    ExportSnapshot,
    Prompt,
    ReviewAction,
    Rubric,
    RubricReview,
    RubricStatus,
    RubricVersion,
    SnapshotItem,
    VersionSource,
)
from rubricforge.models.accounts.orm import Role
from rubricforge.models.accounts.permissions import OPERATOR, UserInfo
from rubricforge.models.core.db import session_scope
from rubricforge.models.core.errors import ExportError, NotFoundError
from rubricforge.models.data.export_formats import ROW_FEATURES
from rubricforge.models.data.exporter import ExportFilter, create_snapshot, write_snapshot
from rubricforge.models.data.importer import import_file
from rubricforge.models.data.snapshot_rows import load_snapshot_rows, rows_sha256
from rubricforge.models.rubrics.criteria import CriterionData, content_hash, split_prefix
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from rubricforge.cli import app

ALL = ExportFilter()
CRITERIA = [
    CriterionData(
        "Names the drug", "Names metformin as first-line therapy.", Category.essential, 5
    ),
    CriterionData("Explains dose", "Explains how the dose is titrated.", Category.important, 3),
    CriterionData(
        "Recommends insulin first", "Recommends insulin as first step.", Category.pitfall, -2
    ),
]


def researcher(name: str) -> UserInfo:
    """A named researcher acting outside the app (no account row needed)."""
    return UserInfo(id=None, username=name, role=Role.researcher)


def add_rubric(
    engine: Engine,
    dataset: str,
    uid: str,
    *,
    status: RubricStatus = RubricStatus.approved,
    tags: tuple[str, ...] = (),
    approved_at: datetime | None = None,
    criteria: list[CriterionData] = CRITERIA,
    messages: list[dict[str, str]] | None = None,
    reviewed: bool = True,
) -> int:
    """A prompt with a one-version rubric in `status`; approved ones get an approve
    review unless `reviewed` is False (approved by a script, no review event)."""
    with session_scope(engine) as s:
        ds = s.scalar(select(Dataset).where(Dataset.name == dataset))
        if ds is None:
            ds = Dataset(name=dataset)
            s.add(ds)
            s.flush()
        prompt = Prompt(
            dataset_id=ds.id, external_id=uid, question=f"Question {uid}?",
            reference_answer=f"Answer {uid}.", source="test", tags=list(tags), messages=messages,
        )  # fmt: skip
        s.add(prompt)
        s.flush()
        rubric = Rubric(prompt_id=prompt.id, status=status)
        s.add(rubric)
        s.flush()
        version_id = _add_version(s, rubric.id, 1, criteria)
        rubric.head_version_id = version_id
        if status == RubricStatus.approved:
            rubric.approved_version_id = version_id
        if status == RubricStatus.approved and reviewed:
            review = RubricReview(
                rubric_id=rubric.id, version_id=version_id, action=ReviewAction.approve
            )
            if approved_at is not None:
                review.created_at = approved_at
            s.add(review)
        return rubric.id


def _add_version(s: Session, rubric_id: int, number: int, criteria: list[CriterionData]) -> int:
    version = RubricVersion(
        rubric_id=rubric_id,
        number=number,
        source=VersionSource.human,
        content_hash=content_hash(criteria),
    )
    s.add(version)
    s.flush()
    for pos, c in enumerate(criteria):
        s.add(
            Criterion(
                version_id=version.id, position=pos, key=c.key, title=c.title,
                description=c.description, category=c.category, weight=c.weight,
            )
        )  # fmt: skip
    s.flush()
    return version.id


def approve_all(engine: Engine, dataset: str) -> None:
    """What an expert's approval does: the head version becomes the approved one."""
    with session_scope(engine) as s:
        rubrics = s.scalars(
            select(Rubric).join(Prompt).join(Dataset).where(Dataset.name == dataset)
        ).all()
        for r in rubrics:
            r.status, r.approved_version_id = RubricStatus.approved, r.head_version_id
            s.add(
                RubricReview(
                    rubric_id=r.id, version_id=r.head_version_id, action=ReviewAction.approve
                )
            )


def read_tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def count(engine: Engine, model: type) -> int:
    with session_scope(engine) as s:
        return s.scalar(select(func.count()).select_from(model))


@pytest.fixture
def med(engine: Engine, rar_sample: Path) -> Engine:
    """The three real RaR-Medicine rows, imported and approved."""
    import_file(engine, rar_sample, "rar-medicine", actor=OPERATOR)
    approve_all(engine, "rar-medicine")
    return engine


def sample_rows(rar_sample: Path) -> list[dict]:
    return [json.loads(line) for line in rar_sample.read_text().splitlines() if line.strip()]


# --- creating snapshots -------------------------------------------------------


def test_snapshot_freezes_approved_rows_in_dataset_then_uid_order(
    med: Engine, rar_sample: Path
) -> None:
    add_rubric(med, "a-first", "z-1")
    add_rubric(med, "a-first", "b-2")
    add_rubric(med, "a-first", "draft-1", status=RubricStatus.draft)
    add_rubric(med, "a-first", "rejected-1", status=RubricStatus.rejected)
    info = create_snapshot(med, ALL, actor=researcher("alice"))

    typed = load_snapshot_rows(med, info.id)
    rows = [r.to_dict() for r in typed]
    assert list(rows[0]) == list(ROW_FEATURES)  # the canonical row is the HF export's columns
    assert [(r["dataset"], r["uid"]) for r in rows] == [
        ("a-first", "b-2"), ("a-first", "z-1"),
        *[("rar-medicine", uid) for uid in sorted(r["uid"] for r in sample_rows(rar_sample))],
    ]  # fmt: skip
    assert info.row_count == 5 and info.sha256 == rows_sha256(typed)
    with session_scope(med) as s:  # each row carries its prompt's id (the editor link)
        ids = dict(s.execute(select(Prompt.external_id, Prompt.id)).all())
    assert [r.prompt_id for r in typed] == [ids[r.uid] for r in typed]
    assert info.name.startswith("snapshot-") and info.name.endswith(info.sha256[:8])

    published = {r["uid"]: r for r in sample_rows(rar_sample)}
    for row in rows[2:]:
        src = published[row["uid"]]
        assert (
            row["question"] == src["question"]
            and row["reference_answer"] == src["reference_answer"]
        )
        assert row["domain"] == "rar_medicine" and row["question_source"] == src["question_source"]
        assert (
            row["rubric_list"] == src["rubric_list"] and row["rubric_count"] == src["rubric_count"]
        )
        assert [(c["title"], c["description"], c["weight"]) for c in row["rubric"]] == [
            (c["title"], c["description"], c["weight"]) for c in src["rubric"]
        ]
        assert [c["category"] for c in row["rubric"]] == [
            split_prefix(s)[0].value for s in src["rubric_list"]
        ]
        assert row["messages"] == [{"role": "user", "content": src["question"]}]

    with session_scope(med) as s:
        snap = s.get(ExportSnapshot, info.id)
        assert snap.filter == ALL.to_json() and snap.row_count == 5
        assert s.scalar(select(func.count()).where(SnapshotItem.snapshot_id == info.id)) == 5
        entry = s.scalars(select(AuditEntry).where(AuditEntry.entity == "export_snapshot")).one()
        assert (entry.actor, entry.entity_id) == ("alice", str(info.id))
        assert entry.details["sha256"] == info.sha256


def test_filters_by_dataset_tag_and_approval_date(engine: Engine) -> None:
    t = lambda day: datetime(2025, 3, day, 12, tzinfo=UTC)  # noqa: E731
    add_rubric(engine, "med", "m1", tags=("cardio",), approved_at=t(1))
    add_rubric(engine, "med", "m2", tags=("renal", "cardio"), approved_at=t(10))
    add_rubric(engine, "med", "m3", approved_at=t(20))
    add_rubric(engine, "sci", "s1", tags=("cardio",), approved_at=t(10))

    def uids(**kw: str | None) -> list[str]:
        args = {"dataset": None, "tag": None, "approved_since": None, "approved_until": None, **kw}
        info = create_snapshot(engine, ExportFilter.parse(**args), actor=OPERATOR)
        return [r.uid for r in load_snapshot_rows(engine, info.id)]

    assert uids(dataset="med") == ["m1", "m2", "m3"]
    assert uids(tag="cardio") == ["m1", "m2", "s1"]
    assert uids(dataset="med", tag="cardio") == ["m1", "m2"]
    assert uids(approved_since="2025-03-10T12:00:00+00:00") == ["m2", "m3", "s1"]  # on/after
    assert uids(approved_until="2025-03-10T12:00:00Z") == ["m1"]  # before
    assert uids(approved_since="2025-03-05", approved_until="2025-03-15", dataset="med") == ["m2"]


def test_approval_date_is_the_approve_review_of_the_approved_version(engine: Engine) -> None:
    rid = add_rubric(engine, "med", "m1", approved_at=datetime(2024, 1, 1, tzinfo=UTC))
    with session_scope(engine) as s:  # a later approve of a version that is no longer approved
        later = datetime(2025, 6, 1, tzinfo=UTC)
        vid = _add_version(s, rid, 2, CRITERIA[:2])
        s.add(
            RubricReview(
                rubric_id=rid, version_id=vid, action=ReviewAction.approve, created_at=later
            )
        )
    add_rubric(engine, "med", "no-review", reviewed=False)  # falls back to updated_at (now)

    def uids(since: str | None, until: str | None) -> list[str]:
        flt = ExportFilter.parse(dataset=None, tag=None, approved_since=since, approved_until=until)
        return [
            r.uid
            for r in load_snapshot_rows(engine, create_snapshot(engine, flt, actor=OPERATOR).id)
        ]

    assert uids("2023-12-31", "2024-01-02") == ["m1"]
    assert uids("2025-01-01", None) == ["no-review"]
    with pytest.raises(ExportError, match="no approved rubrics match .*approved_until=2025-01-01"):
        uids("2024-06-01", "2025-01-01")


def test_same_content_gives_same_sha_and_other_content_another(med: Engine) -> None:
    first = create_snapshot(med, ALL, name="one", actor=OPERATOR)
    second = create_snapshot(med, ALL, name="two", actor=OPERATOR)
    assert first.sha256 == second.sha256 and first.id != second.id
    unnamed = [
        create_snapshot(med, ALL, actor=OPERATOR),
        create_snapshot(med, ALL, actor=OPERATOR),
    ]  # within one second
    assert unnamed[0].name != unnamed[1].name
    add_rubric(med, "med2", "x1")
    assert create_snapshot(med, ALL, actor=OPERATOR).sha256 != first.sha256


def test_nothing_matching_writes_no_snapshot(engine: Engine) -> None:
    add_rubric(engine, "med", "d1", status=RubricStatus.draft)
    add_rubric(engine, "med", "r1", status=RubricStatus.in_review)
    with pytest.raises(ExportError, match="no approved rubrics match"):
        create_snapshot(engine, ALL, actor=OPERATOR)
    with pytest.raises(ExportError, match="dataset 'nope' does not exist"):
        create_snapshot(engine, ExportFilter(dataset="nope"), actor=OPERATOR)
    assert count(engine, ExportSnapshot) == 0 and count(engine, SnapshotItem) == 0
    assert count(engine, AuditEntry) == 0


def test_duplicate_or_bad_name_is_refused(med: Engine) -> None:
    create_snapshot(med, ALL, name="release-1", actor=OPERATOR)
    with pytest.raises(ExportError, match="'release-1' already exists"):
        create_snapshot(med, ALL, name=" release-1 ", actor=OPERATOR)
    with pytest.raises(ExportError, match="1 to 200 characters"):
        create_snapshot(med, ALL, name="   ", actor=OPERATOR)
    assert count(med, ExportSnapshot) == 1


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("yesterday", None, "approved_since 'yesterday' is not an ISO date"),
        (None, "2025-13-01", "approved_until '2025-13-01' is not an ISO date"),
        ("2025-02-01", "2025-01-01", "must be before approved_until"),
    ],
)
def test_bad_dates_are_refused(since: str | None, until: str | None, message: str) -> None:
    with pytest.raises(ExportError, match=message):
        ExportFilter.parse(dataset=None, tag=None, approved_since=since, approved_until=until)


def test_naive_dates_are_utc_and_round_trip_as_json() -> None:
    flt = ExportFilter.parse(
        dataset=" med ", tag="", approved_since="2025-03-01", approved_until=None
    )
    assert flt == ExportFilter(dataset="med", approved_since=datetime(2025, 3, 1, tzinfo=UTC))
    assert flt.to_json() == {
        "dataset": "med", "tag": None,
        "approved_since": "2025-03-01T00:00:00+00:00", "approved_until": None,
    }  # fmt: skip


# --- writing files ------------------------------------------------------------


def test_writes_four_readable_formats_and_a_manifest(med: Engine, tmp_path: Path) -> None:
    hb_chat = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Chest pain?"},
    ]
    add_rubric(med, "healthbench", "hb-1", messages=hb_chat)
    info = create_snapshot(med, ALL, name="v1", actor=OPERATOR)
    rows = [r.to_dict() for r in load_snapshot_rows(med, info.id)]
    out = tmp_path / "exports" / "v1"
    paths = write_snapshot(med, info.id, out)
    assert paths == {
        "jsonl": out / "rar.jsonl", "hf": out / "hf", "trl": out / "trl",
        "verl": out / "verl.parquet", "manifest": out / "manifest.json",
    }  # fmt: skip

    jsonl = [json.loads(line) for line in paths["jsonl"].read_text().splitlines()]
    assert [r["uid"] for r in jsonl] == [r["uid"] for r in rows]
    assert set(jsonl[1]) == {
        "uid", "domain", "question_source", "question", "reference_answer", "rubric",
        "rubric_list", "rubric_count",
    }  # fmt: skip
    assert jsonl[1]["rubric"][0] == {
        k: rows[1]["rubric"][0][k] for k in ("title", "description", "weight")
    }
    assert jsonl[1]["rubric_list"][0].startswith("Essential Criteria: ")
    assert jsonl[0]["domain"] == "healthbench"  # no domain of its own: the dataset name

    hf = load_from_disk(str(paths["hf"]))
    assert hf.to_list() == rows

    trl = load_from_disk(str(paths["trl"]))
    assert trl.column_names == ["prompt", "rubric", "reference_answer", "uid", "dataset"]
    assert trl[0]["prompt"] == hb_chat  # a conversation stays a conversation
    assert trl[1]["prompt"] == [{"role": "user", "content": rows[1]["question"]}]
    assert trl[1]["rubric"] == rows[1]["rubric"]

    verl = pq.read_table(paths["verl"]).to_pylist()
    assert list(verl[0]) == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
    assert verl[1]["data_source"] == "rar-medicine" and verl[1]["ability"] == "rar_medicine"
    assert verl[1]["reward_model"]["style"] == "rubric"
    assert json.loads(verl[1]["reward_model"]["ground_truth"]) == rows[1]["rubric"]
    assert verl[1]["extra_info"]["index"] == 1 and verl[1]["extra_info"]["uid"] == rows[1]["uid"]
    assert verl[1]["extra_info"]["snapshot_sha256"] == info.sha256

    manifest = json.loads(paths["manifest"].read_text())
    head = (manifest["snapshot_id"], manifest["name"], manifest["sha256"], manifest["row_count"])
    assert head == (
        info.id, "v1", info.sha256, 4
    )  # fmt: skip
    assert (
        manifest["formats"] == ["jsonl", "hf", "trl", "verl"]
        and manifest["filter"] == ALL.to_json()
    )
    files = read_tree(out)
    del files["manifest.json"]
    assert manifest["files"] == {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging left


def test_rewriting_a_snapshot_gives_identical_bytes(med: Engine, tmp_path: Path) -> None:
    info = create_snapshot(med, ALL, actor=OPERATOR)
    write_snapshot(med, info.id, tmp_path / "a")
    write_snapshot(med, info.id, tmp_path / "b")
    first = read_tree(tmp_path / "a")
    assert {"hf/state.json", "hf/dataset_info.json", "trl/state.json", "verl.parquet"} <= set(first)
    assert read_tree(tmp_path / "b") == first
    write_snapshot(med, info.id, tmp_path / "a")  # over its own previous export
    assert read_tree(tmp_path / "a") == first


def test_only_the_chosen_formats_are_written(med: Engine, tmp_path: Path) -> None:
    info = create_snapshot(med, ALL, actor=OPERATOR)
    paths = write_snapshot(med, info.id, tmp_path / "o", formats=["verl", " JSONL", "verl"])
    assert list(paths) == ["verl", "jsonl", "manifest"]
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "manifest.json",
        "rar.jsonl",
        "verl.parquet",
    ]


def test_snapshot_content_is_frozen_against_later_edits(med: Engine, tmp_path: Path) -> None:
    info = create_snapshot(med, ALL, actor=OPERATOR)
    rows = load_snapshot_rows(med, info.id)
    write_snapshot(med, info.id, tmp_path / "before")
    with session_scope(med) as s:  # an expert edits every rubric and re-approves it
        for r in s.scalars(select(Rubric)).all():
            vid = _add_version(s, r.id, 2, CRITERIA)
            r.head_version_id = r.approved_version_id = vid
    assert load_snapshot_rows(med, info.id) == rows
    write_snapshot(med, info.id, tmp_path / "after")
    assert read_tree(tmp_path / "after") == read_tree(tmp_path / "before")
    assert create_snapshot(med, ALL, actor=OPERATOR).sha256 != info.sha256


def test_edited_prompt_text_is_detected_not_written(med: Engine, tmp_path: Path) -> None:
    info = create_snapshot(med, ALL, actor=OPERATOR)
    with session_scope(med) as s:
        s.execute(update(Prompt).values(question=Prompt.question + " (edited)"))
    with pytest.raises(ExportError, match="no longer matches its sha256"):
        write_snapshot(med, info.id, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_rar_jsonl_imports_back_to_the_same_prompts_and_criteria(
    med: Engine, tmp_path: Path
) -> None:

    info = create_snapshot(med, ALL, actor=OPERATOR)
    paths = write_snapshot(med, info.id, tmp_path / "out", formats=["jsonl"])
    result = import_file(med, paths["jsonl"], "rar-medicine-copy", actor=OPERATOR)
    assert result.prompts_added == 3

    def content(dataset: str) -> list[tuple]:
        with session_scope(med) as s:
            rows = s.execute(
                select(
                    Prompt.external_id,
                    Prompt.question,
                    Prompt.reference_answer,
                    Prompt.source,
                    Prompt.meta,
                    Criterion.position,
                    Criterion.title,
                    Criterion.description,
                    Criterion.category,
                    Criterion.weight,
                )  # fmt: skip
                .join(Dataset)
                .join(Rubric, Rubric.prompt_id == Prompt.id)
                .join(Criterion, Criterion.version_id == Rubric.head_version_id)
                .where(Dataset.name == dataset)
                .order_by(Prompt.external_id, Criterion.position)
            ).all()
        return [tuple(r) for r in rows]

    assert content("rar-medicine-copy") == content("rar-medicine")
    assert len(content("rar-medicine")) == 29


def test_bad_write_requests_are_refused(med: Engine, tmp_path: Path) -> None:
    info = create_snapshot(med, ALL, actor=OPERATOR)
    with pytest.raises(NotFoundError, match="export snapshot 999 does not exist"):
        write_snapshot(med, 999, tmp_path / "x")
    with pytest.raises(NotFoundError):
        load_snapshot_rows(med, 999)
    with pytest.raises(
        ExportError, match="unknown export format.*parquet; valid formats: jsonl, hf, trl, verl"
    ):
        write_snapshot(med, info.id, tmp_path / "x", formats=["jsonl", "parquet"])
    (tmp_path / "file").write_text("mine")
    with pytest.raises(ExportError, match="is a file"):
        write_snapshot(med, info.id, tmp_path / "file")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(ExportError, match=r"not a rubricforge export \(notes.txt\)"):
        write_snapshot(med, info.id, mine)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "mine"]
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """An empty folder nobody may write into (root ignores modes: make it immutable)."""
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
    try:
        try:
            (folder / "probe").touch()
        except OSError:
            yield folder
        else:
            pytest.skip("cannot make a folder read-only here (root without chattr)")
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(folder)], capture_output=True, check=False)
        folder.chmod(0o755)


def test_read_only_out_dir_is_refused_and_nothing_written(med: Engine, read_only_dir: Path) -> None:
    info = create_snapshot(med, ALL, actor=OPERATOR)
    with pytest.raises(ExportError, match="locked"):
        write_snapshot(med, info.id, read_only_dir)
    assert list(read_only_dir.iterdir()) == []
    assert [p.name for p in read_only_dir.parent.iterdir()] == ["locked"]


def test_failure_midway_leaves_no_partial_files(med: Engine, tmp_path: Path) -> None:
    """A real write failure (the file-size limit, as on a full disk) halfway through."""
    info = create_snapshot(med, ALL, actor=OPERATOR)
    out = tmp_path / "out"
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, limits[1]))
    try:
        with pytest.raises(ExportError, match=r"cannot write snapshot .*nothing was written"):
            write_snapshot(med, info.id, out)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, handler)
    assert list(tmp_path.iterdir()) == []


# --- the CLI ------------------------------------------------------------------


def test_cli_export_creates_and_writes_a_snapshot(med: Engine, db_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"DATABASE_URL": db_url}
    out = tmp_path / "cli"
    result = runner.invoke(
        app, ["export", "--out", str(out), "--dataset", "rar-medicine", "--name", "cli-1",
              "--formats", "jsonl,verl"], env=env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "'cli-1': 3 rubrics, sha256" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "rar.jsonl", "verl.parquet"]
    snapshot_id = json.loads((out / "manifest.json").read_text())["snapshot_id"]

    again = runner.invoke(app, ["export", "--out", str(tmp_path / "again"), "--snapshot",
                                str(snapshot_id), "--formats", "jsonl,verl"], env=env)  # fmt: skip
    assert again.exit_code == 0, again.output
    assert read_tree(tmp_path / "again") == read_tree(out)

    bad = runner.invoke(
        app, ["export", "--out", str(tmp_path / "bad"), "--approved-since", "soon"], env=env
    )
    assert bad.exit_code == 1 and "error: approved_since 'soon' is not an ISO date" in bad.output
    assert count(med, ExportSnapshot) == 1
