"""The data editor's state dict becomes the ordered criteria to save."""

from __future__ import annotations

import pytest
from rubricforge.models.core.errors import EditorInputError
from rubricforge.models.rubrics.criteria import CriterionData
from rubricforge.models.rubrics.editing import apply_editor_changes, editor_rows
from rubricforge.models.rubrics.lint import lint
from rubricforge.models.rubrics.orm import Category

BASE = [
    CriterionData(
        "Diagnosis", "Identifies VKC.", Category.essential, 5, key="k-dx", tags=("core",)
    ),
    CriterionData("Season", "Mentions hot weather.", Category.important, 4, key="k-season"),
    CriterionData("Papillae", "Notes giant papillae.", Category.important, 3, key="k-pap"),
    CriterionData("Trachoma", "Selects trachoma.", Category.pitfall, -2, key="k-tr"),
]


def keys(criteria: list[CriterionData]) -> list[str]:
    return [c.key for c in criteria]


def test_no_changes_gives_the_same_criteria() -> None:
    out = apply_editor_changes(BASE, {"edited_rows": {}, "added_rows": [], "deleted_rows": []})
    assert out == BASE and keys(out) == keys(BASE)
    assert apply_editor_changes(BASE, {}) == BASE


def test_edited_rows_keep_their_key_and_tags() -> None:
    out = apply_editor_changes(
        BASE,
        {"edited_rows": {0: {"title": " Names VKC ", "weight": 4}, 3: {"category": "pitfall"}}},
    )
    assert keys(out) == keys(BASE)
    assert out[0].title == "Names VKC" and out[0].weight == 4.0 and out[0].tags == ("core",)
    assert out[0].description == BASE[0].description
    assert out[3].category is Category.pitfall
    assert out[1:3] == BASE[1:3]


def test_added_rows_get_fresh_keys_and_go_last() -> None:
    out = apply_editor_changes(
        BASE,
        {
            "added_rows": [
                {
                    "title": "Mast Cells",
                    "description": "Recommends a mast cell stabiliser.",
                    "category": "Optional Criteria",
                    "weight": "2",
                },
                {
                    "title": "Steroids",
                    "description": "Warns about long-term steroid drops.",
                    "category": Category.important,
                    "weight": 3.0,
                },
            ]
        },
    )
    assert keys(out)[:4] == keys(BASE)
    assert [c.title for c in out[4:]] == ["Mast Cells", "Steroids"]
    new_keys = keys(out)[4:]
    assert len(set(new_keys)) == 2 and not set(new_keys) & set(keys(BASE))
    assert out[4].category is Category.optional and out[4].weight == 2.0


def test_deleted_rows_disappear_even_if_also_edited() -> None:
    out = apply_editor_changes(
        BASE, {"deleted_rows": [1, 3], "edited_rows": {"3": {"title": "gone anyway"}}}
    )
    assert keys(out) == ["k-dx", "k-pap"]


def test_position_column_reorders() -> None:
    # Typing 1 on the last row moves it to the top; the row that had 1 follows it.
    out = apply_editor_changes(BASE, {"edited_rows": {3: {"position": 1}}})
    assert keys(out) == ["k-tr", "k-dx", "k-season", "k-pap"]
    # Fractions place a row between two others; added rows can be positioned too.
    out = apply_editor_changes(
        BASE,
        {
            "edited_rows": {0: {"position": 2.5}},
            "added_rows": [
                {
                    "title": "New",
                    "description": "Mentions pollen.",
                    "category": "Optional",
                    "weight": 1,
                    "position": 0,
                }
            ],
        },
    )
    assert [c.title for c in out] == ["New", "Season", "Diagnosis", "Papillae", "Trachoma"]


def test_every_bad_row_is_reported_and_nothing_applied() -> None:
    changes = {
        "edited_rows": {
            0: {"title": "   "},
            1: {"weight": "heavy"},
            2: {"category": "Crucial"},
            9: {"title": "no such row"},
        },
        "added_rows": [
            {"title": "Half a row"},
            {"title": "T", "description": "D", "category": "Optional", "weight": None},
        ],
        "deleted_rows": ["x"],
    }
    with pytest.raises(EditorInputError) as err:
        apply_editor_changes(BASE, changes)
    problems = err.value.problems
    assert problems == [
        "deleted row 'x' is not a row number",
        "edited row 9 does not exist (the table has 4 rows)",
        "row 1: title is blank",
        "row 2: weight 'heavy' is not a number",
        "row 3: category 'Crucial' is not one of Essential, Important, Optional, Pitfall",
        "new row 1: description is blank; category None is not one of Essential, Important, "
        "Optional, Pitfall; weight None is not a number",
        "new row 2: weight None is not a number",
    ]
    assert "nothing was applied" in str(err.value)


@pytest.mark.parametrize("weight", [True, float("nan"), float("inf")])
def test_weights_that_are_not_numbers(weight: object) -> None:
    with pytest.raises(EditorInputError, match="row 1: weight"):
        apply_editor_changes(BASE, {"edited_rows": {0: {"weight": weight}}})


def test_read_only_columns_cannot_be_edited() -> None:
    with pytest.raises(EditorInputError, match="column\\(s\\) key cannot be edited"):
        apply_editor_changes(BASE, {"edited_rows": {0: {"key": "stolen"}}})


def test_weight_against_category_is_reported_by_lint_not_clamped() -> None:
    out = apply_editor_changes(BASE, {"edited_rows": {0: {"weight": -5}, 3: {"weight": 2}}})
    assert out[0].weight == -5 and out[3].weight == 2
    signs = [(f.rule, f.index) for f in lint(out) if f.rule == "weight:sign"]
    assert signs == [("weight:sign", 0), ("weight:sign", 3)]


def test_editor_rows_round_trip() -> None:
    rows = editor_rows(BASE)
    assert rows[0] == {
        "position": 1,
        "title": "Diagnosis",
        "description": "Identifies VKC.",
        "category": "Essential",
        "weight": 5,
    }
    # Feeding every row back as an edit of itself changes nothing.
    out = apply_editor_changes(BASE, {"edited_rows": dict(enumerate(rows))})
    assert out == BASE and keys(out) == keys(BASE)
