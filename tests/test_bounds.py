"""Weights and criteria counts are bounded (|w| <= 100, at most 100 criteria) by one
rule (`criteria.criteria_problems`), at import, edit and draft, with a message
naming the row or criterion; a refusal writes nothing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from rubricforge.models.accounts.orm import Role
from rubricforge.models.accounts.permissions import OPERATOR, UserInfo
from rubricforge.models.core.errors import EditorInputError, ImportFileError, InvalidInputError
from rubricforge.models.data.importer import import_file
from rubricforge.models.rubrics.criteria import (
    MAX_CRITERIA,
    CriterionData,
    criteria_problems,
)
from rubricforge.models.rubrics.draft_store import save_drafts
from rubricforge.models.rubrics.drafting import Draft
from rubricforge.models.rubrics.editing import apply_editor_changes
from rubricforge.models.rubrics.orm import Category, Prompt
from rubricforge.models.rubrics.versions import create_rubric
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from test_import import counts, rar_row, write_jsonl

OPT = Category.optional


def crit(weight: float, n: int = 1) -> list[CriterionData]:
    return [CriterionData(f"T{i}", f"Checks {i}.", OPT, weight, key=f"k{i}") for i in range(n)]


@pytest.mark.parametrize(
    ("criteria", "problem"),
    [
        (crit(1e308), "#1: weight 1e+308 is outside -100..100"),
        (crit(-101), "#1: weight -101 is outside -100..100"),
        (crit(float("nan")), "#1: weight nan is not a number"),
        (crit(1, MAX_CRITERIA + 1), "101 criteria: a rubric has at most 100"),
        ([], "a rubric needs at least one criterion"),
    ],
)
def test_the_one_rule(criteria: list[CriterionData], problem: str) -> None:
    assert problem in criteria_problems(criteria)


def test_the_bounds_themselves_are_allowed() -> None:
    assert criteria_problems(crit(100, MAX_CRITERIA)) == []
    assert criteria_problems(crit(-100)) == []


def test_import_refuses_huge_weights_and_too_many_criteria_by_line(
    engine: Engine, tmp_path: Path
) -> None:
    huge = rar_row("b")
    huge["rubric"][1]["weight"] = 1e308
    many = rar_row("c", rubric_list=None, rubric_count=None)
    many["rubric"] = [
        {"title": f"T{i}", "description": f"Checks {i}.", "weight": 1} for i in range(101)
    ]
    before = counts(engine)
    with pytest.raises(ImportFileError) as err:
        import_file(
            engine,
            write_jsonl(tmp_path / "x.jsonl", [rar_row("a"), huge, many]),
            "ds",
            actor=OPERATOR,
        )
    assert [line for line, _ in err.value.problems] == [2, 3]
    assert "rubric[1].weight: weight 1e+308 is outside -100..100" in err.value.problems[0][1]
    assert "101 criteria: a rubric has at most 100" in err.value.problems[1][1]
    assert counts(engine) == before


def test_the_editor_names_the_row_with_a_weight_out_of_bounds() -> None:
    base = crit(1, 2)
    with pytest.raises(EditorInputError) as err:
        apply_editor_changes(base, {"edited_rows": {1: {"weight": 1e308}}})
    assert "row 2: weight 1e+308 is outside -100..100" in str(err.value)
    added = [{"title": "t", "description": "d", "category": "Optional", "weight": 1}] * 100
    with pytest.raises(EditorInputError, match="102 criteria: a rubric has at most 100"):
        apply_editor_changes(base, {"added_rows": added})


def test_saving_and_drafting_refuse_out_of_bounds_weights(engine: Engine, tmp_path: Path) -> None:
    import_file(engine, write_jsonl(tmp_path / "a.jsonl", [rar_row("a")]), "ds", actor=OPERATOR)
    with Session(engine) as s:
        pid = s.scalars(select(Prompt.id)).one()
        s.add(Prompt(dataset_id=1, external_id="new", question="Q?", reference_answer=""))
        s.commit()
        other = s.scalars(select(Prompt.id).where(Prompt.external_id == "new")).one()
    before = counts(engine)
    admin = UserInfo(None, "cli", Role.admin)
    with Session(engine) as s, pytest.raises(InvalidInputError, match="#1: weight 1e\\+308"):
        create_rubric(s, admin, other, crit(1e308))
    draft = Draft(crit(1e308), [[]], "m", "t" * 64)
    errors = save_drafts(engine, [(pid, draft), (other, replace(draft, criteria=crit(3)))])
    assert list(errors) == [pid]
    assert "rubric" in errors[pid] and "weight 1e+308 is outside -100..100" in errors[pid]
    after = counts(engine)
    assert after["rubric_versions"] == before["rubric_versions"] + 1  # only the good draft
