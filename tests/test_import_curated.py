"""Re-importing never overwrites curated work: a rubric an expert
edited or a reviewer approved is reported as a conflict and left alone, unless
the user asks to replace it with the file; a dry run writes nothing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from rubricforge.models.accounts.orm import Role, User
from rubricforge.models.accounts.permissions import OPERATOR, UserInfo
from rubricforge.models.data.exporter import ExportFilter, create_snapshot
from rubricforge.models.data.importer import import_file
from rubricforge.models.rubrics.append import is_curated
from rubricforge.models.rubrics.orm import Prompt, Rubric, RubricStatus, RubricVersion
from rubricforge.models.rubrics.queries import load_editor_state
from rubricforge.models.rubrics.versions import save_version
from rubricforge.models.rubrics.workflow import approve, retire, submit_for_review
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session
from test_import import counts, rar_row, write_jsonl
from typer.testing import CliRunner

from rubricforge.cli import app


def users(engine: Engine) -> tuple[UserInfo, UserInfo]:
    with Session(engine) as s, s.begin():
        out = []
        for name in ("emma", "omar"):
            u = User(username=name, role=Role.expert)
            s.add(u)
            s.flush()
            out.append(UserInfo(u.id, name, Role.expert))
    return out[0], out[1]


def prompt_id(engine: Engine, uid: str) -> int:
    with Session(engine) as s:
        return s.scalars(select(Prompt.id).where(Prompt.external_id == uid)).one()


def curate(engine: Engine, uid: str, *, approve_it: bool) -> int:
    """emma edits the imported rubric of `uid` (a weight), omar approves it if
    asked. Returns the curated version's id."""
    emma, omar = users(engine)
    pid = prompt_id(engine, uid)
    with Session(engine) as s, s.begin():
        state = load_editor_state(s, pid)
        assert state.rubric_id is not None and state.lock_version is not None
        criteria = [replace(state.criteria[0], weight=4.0), *state.criteria[1:]]
        info = save_version(
            s, emma, state.rubric_id, criteria, expected_lock_version=state.lock_version,
            note="expert: metformin is important, not essential",
        )  # fmt: skip
    if approve_it:
        with Session(engine) as s, s.begin():
            lock = info.rubric.lock_version
            st = submit_for_review(s, emma, state.rubric_id, expected_lock_version=lock)
        with Session(engine) as s, s.begin():
            approve(
                s, omar, state.rubric_id, expected_lock_version=st.lock_version,
                confirm_errors=True,
            )  # fmt: skip
    return info.id


def rubric_of(engine: Engine, uid: str) -> Rubric:
    with Session(engine, expire_on_commit=False) as s:
        return s.scalars(select(Rubric).join(Prompt).where(Prompt.external_id == uid)).one()


def exported_version(engine: Engine, uid: str, name: str) -> int:
    snap = create_snapshot(engine, ExportFilter(dataset="ds"), name=name, actor=OPERATOR)
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT i.rubric_version_id FROM snapshot_items i JOIN prompts p "
                "ON p.id = i.prompt_id WHERE i.snapshot_id = :s AND p.external_id = :u"
            ),
            {"s": snap.id, "u": uid},
        ).scalar_one()


@pytest.mark.parametrize(
    ("head_source", "approved", "curated"),
    [
        ("import", None, False),
        ("llm", None, False),
        ("human", None, True),
        ("merge", None, True),
        ("import", 7, True),  # an approval, even of an imported version
    ],
)
def test_what_counts_as_curated(head_source: str, approved: int | None, curated: bool) -> None:
    assert is_curated(head_source, approved) is curated


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "source.jsonl", [rar_row("a"), rar_row("b")])


def test_reimport_of_the_source_file_keeps_an_approved_expert_edit(
    engine: Engine, source: Path
) -> None:
    import_file(engine, source, "ds", actor=OPERATOR)
    curated = curate(engine, "a", approve_it=True)
    before = counts(engine)

    again = import_file(engine, source, "ds", actor=OPERATOR)

    assert (again.rubrics_updated, again.prompts_unchanged, again.prompts_added) == (0, 1, 0)
    assert [(c.line, c.external_id) for c in again.conflicts] == [(1, "a")]
    assert "edited by an expert" in again.conflicts[0].reason
    assert "1 prompt(s) hold curated work" in again.summary()
    assert "line 1: 'a'" in again.summary()
    assert counts(engine) == {**before, "audit_log": before["audit_log"] + 1}  # the run only
    rubric = rubric_of(engine, "a")
    assert (rubric.status, rubric.head_version_id) == (RubricStatus.approved, curated)
    assert exported_version(engine, "a", "after re-import") == curated


def test_an_expert_edit_not_yet_approved_is_a_conflict_too(engine: Engine, source: Path) -> None:
    import_file(engine, source, "ds", actor=OPERATOR)
    curated = curate(engine, "a", approve_it=False)
    again = import_file(engine, source, "ds", actor=OPERATOR)
    assert [c.external_id for c in again.conflicts] == ["a"]
    assert rubric_of(engine, "a").head_version_id == curated


def test_replace_with_the_file_adds_a_draft_and_the_approved_stays_exportable(
    engine: Engine, source: Path
) -> None:
    import_file(engine, source, "ds", actor=OPERATOR)
    curated = curate(engine, "a", approve_it=True)

    result = import_file(engine, source, "ds", replace_curated=True, actor=OPERATOR)

    assert (result.rubrics_updated, result.curated_replaced, result.conflicts) == (1, 1, [])
    assert "1 curated rubric(s) replaced with the file" in result.summary()
    rubric = rubric_of(engine, "a")
    assert rubric.status == RubricStatus.draft and rubric.approved_version_id == curated
    with Session(engine) as s:
        head = s.get(RubricVersion, rubric.head_version_id)
        assert head is not None and head.parent_id == curated
        assert head.note.startswith("replaced with the file source.jsonl")
    assert exported_version(engine, "a", "after replace") == curated  # until re-approved
    with engine.connect() as conn:
        details = conn.execute(
            text("SELECT details FROM audit_log WHERE action = 'import' ORDER BY id DESC LIMIT 1")
        ).scalar_one()
    assert details["replaced"] == ["a"]


def test_dry_run_reports_the_same_and_writes_nothing(
    engine: Engine, source: Path, tmp_path: Path
) -> None:
    import_file(engine, source, "ds", actor=OPERATOR)
    curate(engine, "a", approve_it=True)
    changed_b = rar_row("b")
    changed_b["rubric"][0]["weight"] = 4
    changed_b["rubric_list"][0] = "Important Criteria: Names metformin."
    path = write_jsonl(tmp_path / "v2.jsonl", [rar_row("a"), changed_b, rar_row("c")])
    before = counts(engine)

    preview = import_file(engine, path, "ds", dry_run=True, actor=OPERATOR)
    assert counts(engine) == before  # not even an audit entry
    assert preview.dry_run and "Dry run, nothing written" in preview.summary()
    assert (preview.prompts_added, preview.rubrics_updated, preview.prompts_unchanged) == (1, 1, 0)
    assert [c.external_id for c in preview.conflicts] == ["a"]

    real = import_file(engine, path, "ds", actor=OPERATOR)
    assert (real.prompts_added, real.rubrics_updated, len(real.conflicts)) == (1, 1, 1)
    assert real.criteria_added == preview.criteria_added == 6


def test_dry_run_into_a_new_dataset_does_not_create_it(engine: Engine, source: Path) -> None:
    before = counts(engine)
    preview = import_file(engine, source, "fresh", dry_run=True, actor=OPERATOR)
    assert preview.prompts_added == 2
    assert counts(engine) == before


def test_a_retired_rubric_is_a_conflict_even_when_replacing(
    engine: Engine, source: Path, tmp_path: Path
) -> None:
    import_file(engine, source, "ds", actor=OPERATOR)
    admin = UserInfo(None, "cli", Role.admin)
    rubric = rubric_of(engine, "a")
    with Session(engine) as s, s.begin():
        retire(s, admin, rubric.id, expected_lock_version=rubric.lock_version)
    changed = rar_row("a")
    changed["rubric"][0]["weight"] = 4
    changed["rubric_list"][0] = "Important Criteria: Names metformin."
    path = write_jsonl(tmp_path / "v2.jsonl", [changed])
    result = import_file(engine, path, "ds", replace_curated=True, actor=OPERATOR)
    assert result.rubrics_updated == 0
    assert "retired" in result.conflicts[0].reason
    assert rubric_of(engine, "a").head_version_id == rubric.head_version_id


def test_cli_dry_run_and_replace_curated(engine: Engine, db_url: str, source: Path) -> None:
    import_file(engine, source, "ds", actor=OPERATOR)
    curated = curate(engine, "a", approve_it=True)
    runner, env = CliRunner(), {"DATABASE_URL": db_url}
    args = ["import", str(source), "--dataset", "ds"]

    dry = runner.invoke(app, [*args, "--dry-run", "--replace-curated"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "Dry run, nothing written" in dry.stdout and "1 curated rubric(s) would be" in dry.stdout
    assert rubric_of(engine, "a").head_version_id == curated

    plain = runner.invoke(app, args, env=env)
    assert plain.exit_code == 0, plain.output
    assert "line 1: 'a'" in plain.stdout and "--replace-curated" in plain.stdout
    assert rubric_of(engine, "a").head_version_id == curated

    forced = runner.invoke(app, [*args, "--replace-curated"], env=env)
    assert forced.exit_code == 0, forced.output
    assert rubric_of(engine, "a").head_version_id != curated
