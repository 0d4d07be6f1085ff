"""Importing RaR and HealthBench files: what lands in Postgres, and that a bad
file lands nothing and names every bad line."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rubricforge.models import (
    AuditEntry,
    Criterion,
    Dataset,
    Prompt,
    Rubric,
    RubricStatus,
    RubricVersion,
    VersionSource,
)
from rubricforge.models.accounts.orm import Role
from rubricforge.models.accounts.permissions import OPERATOR, UserInfo
from rubricforge.models.core.errors import ImportFileError
from rubricforge.models.data.import_formats import question_id
from rubricforge.models.data.importer import import_file
from rubricforge.models.rubrics.criteria import (
    POLARITY_AVOIDANCE,
    CriterionData,
    content_hash,
    split_prefix,
)
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from rubricforge.cli import app

TABLES = ["datasets", "prompts", "rubrics", "rubric_versions", "criteria", "audit_log"]


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Lists and objects as JSON strings, as spreadsheets and pandas users write them."""
    cells = [
        {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in r.items()} for r in rows
    ]
    pd.DataFrame(cells).to_csv(path, index=False)
    return path


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def head_criteria(engine: Engine, dataset: str) -> dict[str, list[Criterion]]:
    """external id -> criteria of the rubric's head version, in order."""
    with Session(engine) as s:
        rows = s.execute(
            select(Prompt.external_id, Criterion)
            .join(Dataset, Dataset.id == Prompt.dataset_id)
            .join(Rubric, Rubric.prompt_id == Prompt.id)
            .join(Criterion, Criterion.version_id == Rubric.head_version_id)
            .where(Dataset.name == dataset)
            .order_by(Prompt.external_id, Criterion.position)
        ).all()
    out: dict[str, list[Criterion]] = {}
    for ext_id, crit in rows:
        out.setdefault(ext_id, []).append(crit)
    return out


def rar_row(uid: str, **changes: Any) -> dict[str, Any]:
    row = {
        "uid": uid,
        "domain": "test",
        "question_source": "unit",
        "question": f"What is the first-line treatment in case {uid}?",
        "reference_answer": "Metformin, unless contraindicated.",
        "rubric": [
            {"title": "Names Metformin", "description": "Names metformin.", "weight": 5},
            {"title": "Checks Kidneys", "description": "Checks renal function.", "weight": 3},
            {
                "title": "Avoids Insulin First",
                "description": "Does not start insulin.",
                "weight": -1,
            },
        ],
        "rubric_list": [
            "Essential Criteria: Names metformin.",
            "Important Criteria: Checks renal function.",
            "Pitfall Criteria: Does not start insulin.",
        ],
        "rubric_count": 3,
    }
    row.update(changes)
    return row


# --- the real RaR rows -------------------------------------------------------


def test_rar_sample_lands_with_prefix_categories_signed_weights_and_flags(
    engine: Engine, rar_sample: Path
) -> None:
    rows = read_jsonl(rar_sample)
    result = import_file(
        engine, rar_sample, "rar-med", actor=UserInfo(id=None, username="tester", role=Role.expert)
    )

    n_criteria = sum(len(r["rubric"]) for r in rows)
    assert (result.format, result.file_format) == ("rar", "jsonl")
    assert (result.prompts_added, result.prompts_unchanged, result.rubrics_updated) == (3, 0, 0)
    assert result.criteria_added == n_criteria
    assert "3 prompts added" in result.summary()

    stored = head_criteria(engine, "rar-med")
    assert sorted(stored) == sorted(r["uid"] for r in rows)
    flagged_pitfalls = 0
    flagged: dict[str, list[str]] = {}
    for row in rows:
        crits = stored[row["uid"]]
        assert [c.title for c in crits] == [i["title"] for i in row["rubric"]]
        assert [c.description for c in crits] == [i["description"] for i in row["rubric"]]
        # Weights exactly as published: pitfalls stay negative, nothing flipped.
        assert [c.weight for c in crits] == [float(i["weight"]) for i in row["rubric"]]
        assert [c.category for c in crits] == [split_prefix(s)[0] for s in row["rubric_list"]]
        assert [c.position for c in crits] == list(range(len(crits)))
        for c in crits:
            # "Does not mention/explain X" is an omission (bad when met): right with a
            # negative weight. "Does not misinterpret X" reads as an avoidance (good when
            # met) and "Avoids ..." titles too: those are flagged for the expert.
            if c.weight < 0 and POLARITY_AVOIDANCE in c.flags:
                flagged_pitfalls += 1
            if c.weight > 0:
                assert POLARITY_AVOIDANCE not in c.flags
        flagged[row["uid"]] = [c.title for c in crits if c.flags]
    assert flagged == {
        "med-01884518e6c7": ["Avoids Trachoma Misidentification"],
        "med-02a8056b1d15": ["Avoids Misdiagnosing Mass"],
        "med-0cb2de59edaa": [],  # "Does not mention ...", "Does not explain ...": omissions
    }
    assert flagged_pitfalls == 2
    assert result.pitfalls_flagged == flagged_pitfalls
    assert "pitfall" in result.summary()

    with Session(engine) as s:
        prompt = s.scalars(select(Prompt).where(Prompt.external_id == rows[0]["uid"])).one()
        assert prompt.question == rows[0]["question"]
        assert prompt.reference_answer == rows[0]["reference_answer"]
        assert prompt.source == rows[0]["question_source"]
        assert prompt.meta == {"domain": "rar_medicine"}
        assert prompt.messages is None
        rubric = s.scalars(select(Rubric).where(Rubric.prompt_id == prompt.id)).one()
        version = s.get(RubricVersion, rubric.head_version_id)
        assert version is not None
        assert rubric.status == RubricStatus.draft
        assert (version.number, version.source, version.parent_id) == (
            1,
            VersionSource.import_,
            None,
        )
        crits = stored[rows[0]["uid"]]
        as_data = [CriterionData(c.title, c.description, c.category, c.weight) for c in crits]
        assert version.content_hash == content_hash(as_data)
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "import")).one()
        assert entry.actor == "tester"
        assert entry.details["sha256"] == hashlib.sha256(rar_sample.read_bytes()).hexdigest()
        assert entry.details["prompts_added"] == 3


def test_category_comes_from_prefix_then_item_field_then_weight(
    engine: Engine, tmp_path: Path
) -> None:
    by_prefix = rar_row(
        "a",
        rubric=[{"title": "Names Drug", "description": "Names the drug.", "weight": 3}],
        rubric_list=["Essential Criteria: Names the drug."],
        rubric_count=1,
    )
    by_field = rar_row(
        "b",
        rubric=[
            {"title": "Names Drug", "description": "Names it.", "weight": 5, "category": "optional"}
        ],
        rubric_list=None,
        rubric_count=None,
    )
    by_weight = rar_row(
        "c",
        rubric=[
            {"title": "Dose", "description": "Gives the dose.", "weight": 4},
            {"title": "Extra", "description": "Adds a reference.", "weight": 1},
            {"title": "Wrong Drug", "description": "Recommends a sulfonylurea.", "weight": -2},
            {
                "title": "Prefixed",
                "description": "Essential Criteria: States the goal.",
                "weight": 2,
            },
            {
                "title": "Uses Rome IV",
                "description": "Rome IV criteria: recurrent pain.",
                "weight": 3,
            },
        ],
    )
    del by_weight["rubric_list"], by_weight["rubric_count"]
    import_file(
        engine,
        write_jsonl(tmp_path / "c.jsonl", [by_prefix, by_field, by_weight]),
        "ds",
        actor=OPERATOR,
    )

    stored = head_criteria(engine, "ds")
    assert [c.category.value for c in stored["a"]] == ["Essential"]
    assert [c.category.value for c in stored["b"]] == ["Optional"]
    assert [c.category.value for c in stored["c"]] == [
        "Important",
        "Optional",
        "Pitfall",
        "Essential",
        "Important",
    ]
    assert stored["c"][3].description == "States the goal."
    assert stored["c"][4].description == "Rome IV criteria: recurrent pain."  # not a category
    assert stored["c"][2].weight == -2.0
    assert stored["c"][2].flags == []  # worded as a failure: sign and wording agree


# --- HealthBench -------------------------------------------------------------

HB_ROWS: list[dict[str, Any]] = [
    {
        "prompt_id": "hb-1",
        "prompt": [
            {"role": "user", "content": "My father has chest pain."},
            {"role": "assistant", "content": "How long has it lasted?"},
            {"role": "user", "content": "Twenty minutes, and he is sweating."},
        ],
        "rubrics": [
            {
                "criterion": "Advises calling emergency services immediately because of "
                "possible myocardial infarction.",
                "points": 10,
                "tags": ["level:example", "axis:completeness"],
            },
            {"criterion": "Asks about medication allergies.", "points": 3, "tags": []},
            {
                "criterion": "Fails to tell the user to seek urgent care.",
                "points": -8,
                "tags": ["axis:accuracy"],
            },
            {"criterion": "Does not suggest driving himself.", "points": -2, "tags": []},
        ],
        "example_tags": ["theme:emergency_referrals", "physician_agreed_category:emergent"],
        "ideal_completions_data": {
            "ideal_completion": "Call emergency services now.",
            "ideal_completions_group": "Group 1",
        },
        "canary": "do-not-train",
    },
    {
        "prompt": [{"role": "user", "content": "Is ibuprofen safe in pregnancy?"}],
        "rubrics": [{"criterion": "Mentions third-trimester risk.", "points": 5, "tags": []}],
        "example_tags": [],
        "ideal_completions_data": None,
    },
]


def test_healthbench_rows_become_conversations_with_points_as_weights(
    engine: Engine, tmp_path: Path
) -> None:
    result = import_file(engine, write_jsonl(tmp_path / "hb.jsonl", HB_ROWS), "hb", actor=OPERATOR)
    assert (result.format, result.prompts_added, result.criteria_added) == ("healthbench", 2, 5)
    # "Does not suggest ..." with negative points reads as an avoidance.
    assert result.pitfalls_flagged == 1

    no_id = question_id("Is ibuprofen safe in pregnancy?")
    stored = head_criteria(engine, "hb")
    assert sorted(stored) == sorted(["hb-1", no_id])
    crits = stored["hb-1"]
    assert [c.weight for c in crits] == [10.0, 3.0, -8.0, -2.0]
    assert [c.category.value for c in crits] == ["Essential", "Important", "Pitfall", "Pitfall"]
    assert crits[0].description == HB_ROWS[0]["rubrics"][0]["criterion"]
    assert crits[0].title == "Advises calling emergency services immediately because…"
    assert crits[1].title == "Asks about medication allergies"
    assert crits[0].tags == ["level:example", "axis:completeness"]
    assert crits[2].flags == []
    assert POLARITY_AVOIDANCE in crits[3].flags

    with Session(engine) as s:
        p1 = s.scalars(select(Prompt).where(Prompt.external_id == "hb-1")).one()
        assert p1.question == "Twenty minutes, and he is sweating."
        assert p1.messages == HB_ROWS[0]["prompt"]
        assert p1.reference_answer == "Call emergency services now."
        assert p1.tags == HB_ROWS[0]["example_tags"]
        assert p1.meta == {"canary": "do-not-train", "ideal_completions_group": "Group 1"}
        p2 = s.scalars(select(Prompt).where(Prompt.external_id == no_id)).one()
        assert (p2.reference_answer, p2.tags) == ("", [])

    # Without a prompt_id, the id is a hash of the question: a re-import matches it.
    again = import_file(engine, tmp_path / "hb.jsonl", "hb", actor=OPERATOR)
    assert (again.prompts_added, again.prompts_unchanged) == (0, 2)


# --- CSV and Parquet ---------------------------------------------------------

WRITERS: dict[str, Callable[[Path, list[dict[str, Any]]], Path]] = {
    "csv": write_csv,
    "parquet": write_parquet,
}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_csv_and_parquet_import_the_same_rubrics_as_jsonl(
    engine: Engine, tmp_path: Path, rar_sample: Path, fmt: str
) -> None:
    rows = read_jsonl(rar_sample)
    import_file(engine, rar_sample, "from-jsonl", actor=OPERATOR)
    result = import_file(
        engine, WRITERS[fmt](tmp_path / f"rar.{fmt}", rows), "other", progress=True, actor=OPERATOR
    )

    assert (result.file_format, result.prompts_added) == (fmt, 3)

    def canon(ds: str) -> dict[str, list[tuple[Any, ...]]]:
        return {
            k: [(c.title, c.description, c.category, c.weight, c.flags) for c in v]
            for k, v in head_criteria(engine, ds).items()
        }

    assert canon("other") == canon("from-jsonl")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_healthbench_in_csv_and_parquet(engine: Engine, tmp_path: Path, fmt: str) -> None:
    rows = [{k: v for k, v in r.items() if k != "ideal_completions_data"} for r in HB_ROWS]
    result = import_file(engine, WRITERS[fmt](tmp_path / f"hb.{fmt}", rows), "hb", actor=OPERATOR)
    assert (result.format, result.prompts_added, result.criteria_added) == ("healthbench", 2, 5)
    assert [c.weight for c in head_criteria(engine, "hb")["hb-1"]] == [10.0, 3.0, -8.0, -2.0]


# --- bad files: nothing imported, every bad line named ----------------------


def _bad_cases(rar_sample: Path) -> dict[str, tuple[list[Any], list[int]]]:
    good = read_jsonl(rar_sample)
    g0, g1, g2 = (copy.deepcopy(r) for r in good)

    def with_item(row: dict[str, Any], **item: Any) -> dict[str, Any]:
        row = copy.deepcopy(row)
        row["rubric"][0].update(item)
        return row

    no_answer = copy.deepcopy(g1)
    del no_answer["reference_answer"]
    no_question = copy.deepcopy(g2)
    del no_question["question"]
    return {
        # name: (rows, expected bad lines); a str row is written as a raw line
        "missing field": ([g0, no_answer, no_question], [2, 3]),
        "wrong type": ([with_item(g0, weight="5"), g1, {**g2, "rubric": {"a": 1}}], [1, 3]),
        "empty title": ([g0, with_item(g1, title="  "), g2], [2]),
        "empty description": ([with_item(g0, description=""), g1, g2], [1]),
        "empty rubric": ([g0, g1, {**g2, "rubric": [], "rubric_list": [], "rubric_count": 0}], [3]),
        "unknown category": (
            [
                {**g0, "rubric_list": ["Critical Criteria: x", *g0["rubric_list"][1:]]},
                g1,
                with_item({**g2, "rubric_list": None}, category="Mandatory"),
            ],
            [1, 3],
        ),
        "rubric_list length": ([g0, {**g1, "rubric_list": g1["rubric_list"][:2]}, g2], [2]),
        "duplicate id": ([g0, g1, {**g2, "uid": g0["uid"]}], [3]),
        "not an object": ([g0, [1, 2], g2], [2]),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing field",
        "wrong type",
        "empty title",
        "empty description",
        "empty rubric",
        "unknown category",
        "rubric_list length",
        "duplicate id",
        "not an object",
    ],
)
def test_bad_rows_import_nothing_and_name_every_bad_line(
    engine: Engine, tmp_path: Path, rar_sample: Path, case: str
) -> None:
    rows, bad_lines = _bad_cases(rar_sample)[case]
    before = counts(engine)
    with pytest.raises(ImportFileError) as err:
        import_file(engine, write_jsonl(tmp_path / "bad.jsonl", rows), "ds", actor=OPERATOR)
    assert [line for line, _ in err.value.problems] == bad_lines
    assert "nothing was imported" in str(err.value)
    assert counts(engine) == before


def test_bad_json_and_bad_bytes_are_named_by_physical_line(
    engine: Engine, tmp_path: Path, rar_sample: Path
) -> None:
    lines = rar_sample.read_bytes().splitlines()
    path = tmp_path / "bad.jsonl"
    # line 2 blank (skipped, but still counted), line 3 broken JSON, line 5 not UTF-8
    path.write_bytes(b"\n".join([lines[0], b"", lines[1][:-5], lines[2], b'{"question": "\xff"}']))
    before = counts(engine)
    with pytest.raises(ImportFileError) as err:
        import_file(engine, path, "ds", actor=OPERATOR)
    assert [line for line, _ in err.value.problems] == [3, 5]
    assert "not valid JSON" in err.value.problems[0][1]
    assert "not UTF-8" in err.value.problems[1][1]
    assert counts(engine) == before


def test_bad_csv_and_parquet_rows_are_named_by_row_number(
    engine: Engine, tmp_path: Path, rar_sample: Path
) -> None:
    rows = read_jsonl(rar_sample)
    bad = [rows[0], {**rows[1], "question": ""}, {**rows[2], "rubric_count": 99}]
    before = counts(engine)
    with pytest.raises(ImportFileError) as err:
        import_file(engine, write_csv(tmp_path / "bad.csv", bad), "ds", actor=OPERATOR)
    assert [line for line, _ in err.value.problems] == [3, 4]  # the header is line 1
    with pytest.raises(ImportFileError) as err:
        import_file(engine, write_parquet(tmp_path / "bad.parquet", bad), "ds", actor=OPERATOR)
    assert [line for line, _ in err.value.problems] == [2, 3]  # row index + 1

    ragged = tmp_path / "ragged.csv"
    write_csv(ragged, rows[:1])  # its cells hold newlines: rows are not text lines
    with ragged.open("a") as fh:
        fh.write("only,three,cells\n")
    with pytest.raises(ImportFileError) as err:
        import_file(engine, ragged, "ds", actor=OPERATOR)
    assert [line for line, _ in err.value.problems] == [3]
    assert counts(engine) == before


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.jsonl", b"", "no rows"),
        ("blank.jsonl", b"\n  \n", "no rows"),
        ("header-only.csv", b"question,reference_answer,rubric\n", "no rows"),
        ("shape.jsonl", b'{"foo": 1, "bar": 2}\n', "unknown row shape"),
        ("corrupt.parquet", b"PAR1 this is not parquet", "cannot read"),
        ("rows.txt", b"{}", "unsupported file type"),
        ("missing.jsonl", None, "cannot read"),
    ],
)
def test_unreadable_empty_or_unknown_files_import_nothing(
    engine: Engine, tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    before = counts(engine)
    with pytest.raises(ImportFileError) as err:
        import_file(engine, path, "ds", actor=OPERATOR)
    assert message in str(err.value)
    assert counts(engine) == before


# --- re-import -----------------------------------------------------------------


def test_reimport_of_the_same_file_changes_nothing_but_one_audit_entry(
    engine: Engine, rar_sample: Path
) -> None:
    import_file(engine, rar_sample, "ds", actor=OPERATOR)
    before = counts(engine)
    keys_before = {k: [c.key for c in v] for k, v in head_criteria(engine, "ds").items()}

    again = import_file(engine, rar_sample, "ds", actor=OPERATOR)

    assert (again.prompts_added, again.rubrics_updated, again.prompts_unchanged) == (0, 0, 3)
    assert again.criteria_added == 0
    assert "Nothing changed" in again.summary()
    after = counts(engine)
    assert after == {**before, "audit_log": before["audit_log"] + 1}
    assert {k: [c.key for c in v] for k, v in head_criteria(engine, "ds").items()} == keys_before


def test_changed_rubric_appends_a_version_and_moves_the_head(
    engine: Engine, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "v1.jsonl", [rar_row("a"), rar_row("b")])
    import_file(engine, path, "ds", actor=OPERATOR)
    old = head_criteria(engine, "ds")["a"]
    # "a" is an uncurated import (curated rubrics: tests/test_import_curated.py).
    changed = rar_row("a")
    changed["rubric"][0]["weight"] = 4  # same words, new weight
    changed["rubric"][1] = {
        "title": "Checks Lactate",
        "description": "Checks lactate.",
        "weight": 2,
    }
    changed["rubric_list"][0] = "Important Criteria: Names metformin."
    changed["rubric_list"][1] = "Optional Criteria: Checks lactate."
    before = counts(engine)
    result = import_file(
        engine, write_jsonl(tmp_path / "v2.jsonl", [changed, rar_row("b")]), "ds", actor=OPERATOR
    )

    assert (result.rubrics_updated, result.prompts_unchanged, result.prompts_added) == (1, 1, 0)
    assert result.criteria_added == 3
    after = counts(engine)
    assert after["prompts"] == before["prompts"]
    assert after["rubric_versions"] == before["rubric_versions"] + 1
    with Session(engine) as s:
        rubric = s.scalars(select(Rubric).join(Prompt).where(Prompt.external_id == "a")).one()
        head = s.get(RubricVersion, rubric.head_version_id)
        assert head is not None
        parent = s.get(RubricVersion, head.parent_id)
        assert parent is not None and parent.number == 1
        assert (head.number, head.source) == (2, VersionSource.import_)
        assert rubric.status == RubricStatus.draft
        assert rubric.lock_version == 3  # created, version 1, version 2: one bump each
    new = head_criteria(engine, "ds")["a"]
    assert [c.weight for c in new] == [4.0, 2.0, -1.0]
    assert new[0].key == old[0].key  # same words: the same criterion
    assert new[2].key == old[2].key
    assert new[1].key not in {c.key for c in old}

    # The same changed file again: nothing more.
    again = import_file(engine, tmp_path / "v2.jsonl", "ds", actor=OPERATOR)
    assert (again.rubrics_updated, again.prompts_unchanged) == (0, 2)


def test_prompt_without_rubric_gets_version_one(engine: Engine, tmp_path: Path) -> None:
    row = rar_row("a")
    with Session(engine) as s, s.begin():
        ds = Dataset(name="ds")
        s.add(ds)
        s.flush()
        s.add(
            Prompt(
                dataset_id=ds.id,
                external_id="a",
                question=row["question"],
                reference_answer=row["reference_answer"],
            )
        )
    result = import_file(engine, write_jsonl(tmp_path / "a.jsonl", [row]), "ds", actor=OPERATOR)
    assert (result.rubrics_updated, result.prompts_added) == (1, 0)
    with Session(engine) as s:
        rubric = s.scalars(select(Rubric)).one()
        head = s.get(RubricVersion, rubric.head_version_id)
        assert head is not None and head.number == 1


def test_known_id_with_another_question_is_a_bad_row(engine: Engine, tmp_path: Path) -> None:
    import_file(
        engine,
        write_jsonl(tmp_path / "v1.jsonl", [rar_row("a"), rar_row("b")]),
        "ds",
        actor=OPERATOR,
    )
    before = counts(engine)
    rows = [
        rar_row("new"),
        rar_row("a", question="A different question reusing the id?"),
        rar_row("b", reference_answer="A different answer."),
    ]
    with pytest.raises(ImportFileError) as err:
        import_file(engine, write_jsonl(tmp_path / "v2.jsonl", rows), "ds", actor=OPERATOR)
    assert [line for line, _ in err.value.problems] == [2, 3]
    assert "different question" in err.value.problems[0][1]
    assert "different reference answer" in err.value.problems[1][1]
    assert counts(engine) == before
    with Session(engine) as s:
        q = s.scalars(select(Prompt.question).where(Prompt.external_id == "a")).one()
    assert q == rar_row("a")["question"]


# --- the CLI -------------------------------------------------------------------


def test_cli_imports_and_reports_a_bad_file_without_traceback(
    db_url: str, tmp_path: Path, rar_sample: Path
) -> None:
    runner = CliRunner()
    env = {"DATABASE_URL": db_url}
    ok = runner.invoke(app, ["import", str(rar_sample), "--dataset", "cli"], env=env)
    assert ok.exit_code == 0, ok.output
    assert "3 prompts added" in ok.stdout

    rows = read_jsonl(rar_sample)
    bad = write_jsonl(tmp_path / "bad.jsonl", [rows[0], {**rows[1], "rubric": []}])
    res = runner.invoke(app, ["import", str(bad), "--dataset", "cli2"], env=env)
    assert res.exit_code == 1
    assert "line 2" in res.stderr and "nothing was imported" in res.stderr
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_the_progress_bar_knows_how_many_rows_a_file_holds(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from rubricforge.models.data.import_reading import expected_rows, progress_rows

    with_newline, without = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    with_newline.write_text('{"a": 1}\n{"a": 2}\n{"a": 3}\n', encoding="utf-8")
    without.write_text('{"a": 1}\n{"a": 2}', encoding="utf-8")
    assert expected_rows(with_newline, "jsonl") == 3
    assert expected_rows(without, "jsonl") == 2
    parquet = tmp_path / "c.parquet"
    pq.write_table(pa.table({"a": list(range(7))}), parquet)
    assert expected_rows(parquet, "parquet") == 7
    assert expected_rows(tmp_path / "c.csv", "csv") is None  # a quoted field may span lines
    assert expected_rows(tmp_path / "missing.jsonl", "jsonl") is None
    rows = [(1, {"a": 1}), (2, {"a": 2})]
    assert list(progress_rows(iter(rows), True, 2)) == rows  # the bar passes every row on
