"""The rubric editor's table edits as a new list of criteria. Pure; no Streamlit.

`st.data_editor` reports what the user did as a state dict:
``{"edited_rows": {row: {column: value}}, "added_rows": [{column: value}],
"deleted_rows": [row]}``, rows being positions in the table it was given
(added rows carry their own values). This module turns that into the ordered
criteria to save, so the page stays thin and the translation is tested alone.

Edited rows keep their criterion key (the same criterion across versions); new
rows get a fresh one. An optional ``position`` column reorders: rows are sorted
by it, a row whose position was edited going before an untouched row with the
same number (typing 1 moves a row to the top). A weight that does not suit its
category is not clamped here: the lint reports it, and the expert decides.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from rubricforge.models.core.errors import EditorInputError
from rubricforge.models.core.text_safety import clean_text
from rubricforge.models.rubrics.criteria import (
    DEFAULT_WEIGHT,
    CriterionData,
    count_problem,
    parse_category,
    weight_problem,
)
from rubricforge.models.rubrics.orm import Category

TEXT_COLUMNS = ("title", "description")
COLUMNS = (*TEXT_COLUMNS, "category", "weight")
POSITION = "position"
_CATEGORIES = ", ".join(c.value for c in Category)


@dataclass
class _Row:
    label: str  # how the error message names the row
    values: dict[str, Any]
    position: Any
    moved: bool  # its position was typed by the user
    order: int  # tie-break: table order
    base: CriterionData | None


def editor_rows(criteria: Sequence[CriterionData]) -> list[dict[str, Any]]:
    """The table to give `st.data_editor`: the editable columns plus a 1-based
    position, in the shape `apply_editor_changes` reads back."""
    return [
        {
            "position": i,
            "title": c.title,
            "description": c.description,
            "category": c.category.value,
            "weight": c.weight,
        }
        for i, c in enumerate(criteria, start=1)
    ]


def _row_index(raw: object, n: int, what: str, problems: list[str]) -> int | None:
    try:
        i = int(raw)  # type: ignore[call-overload]  # keys may arrive as "3" after JSON
    except (TypeError, ValueError):
        problems.append(f"{what} {raw!r} is not a row number")
        return None
    if not 0 <= i < n:
        problems.append(f"{what} {i} does not exist (the table has {n} rows)")
        return None
    return i


def _collect(
    base: Sequence[CriterionData], changes: Mapping[str, Any], problems: list[str]
) -> list[_Row]:
    n = len(base)
    deleted = {
        i
        for raw in changes.get("deleted_rows") or []
        if (i := _row_index(raw, n, "deleted row", problems)) is not None
    }
    edits: dict[int, Mapping[str, Any]] = {}
    for raw, cells in (changes.get("edited_rows") or {}).items():
        i = _row_index(raw, n, "edited row", problems)
        if i is not None and i not in deleted:
            edits[i] = cells
    rows = []
    for i, c in enumerate(base):
        if i in deleted:
            continue
        cells = edits.get(i, {})
        values = {
            "title": c.title,
            "description": c.description,
            "category": c.category,
            "weight": c.weight,
        } | dict(cells)
        rows.append(
            _Row(f"row {i + 1}", values, cells.get(POSITION, i + 1), POSITION in cells, i, c)
        )
    for j, cells in enumerate(changes.get("added_rows") or []):
        order = n + j
        position = cells.get(POSITION, order + 1)
        rows.append(_Row(f"new row {j + 1}", dict(cells), position, POSITION in cells, order, None))
    return rows


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _parse(row: _Row, problems: list[str]) -> tuple[float, CriterionData] | None:
    bad = []
    unknown = sorted(set(row.values) - {*COLUMNS, POSITION})
    if unknown:
        bad.append(f"column(s) {', '.join(unknown)} cannot be edited")
    texts = {}
    for col in TEXT_COLUMNS:
        value = row.values.get(col)
        texts[col] = "" if value is None else str(value).strip()
        if not texts[col]:
            bad.append(f"{col} is blank")
    raw_cat = row.values.get("category")
    category = raw_cat if isinstance(raw_cat, Category) else parse_category(str(raw_cat or ""))
    if category is None:
        bad.append(f"category {raw_cat!r} is not one of {_CATEGORIES}")
    weight = _number(row.values.get("weight"))
    if weight is None:
        bad.append(f"weight {row.values.get('weight')!r} is not a number")
    elif (out_of_bounds := weight_problem(weight)) is not None:
        bad.append(out_of_bounds)
        weight = None
    position = _number(row.position)
    if position is None:
        bad.append(f"position {row.position!r} is not a number")
    if bad or category is None or weight is None or position is None:
        problems.append(f"{row.label}: {'; '.join(bad)}")
        return None
    title, description = texts["title"], texts["description"]
    if row.base is None:
        return position, CriterionData(title, description, category, weight)
    return position, replace(
        row.base, title=title, description=description, category=category, weight=weight
    )


def apply_editor_changes(
    base: Sequence[CriterionData], changes: Mapping[str, Any]
) -> list[CriterionData]:
    """The criteria after the user's table edits, in their new order.

    Raises EditorInputError listing every bad row (blank text, unknown category,
    a weight or position that is not a number, a row that does not exist); in
    that case nothing is applied.
    """
    problems: list[str] = []
    keyed = []
    for row in _collect(base, changes, problems):
        parsed = _parse(row, problems)
        if parsed is not None:
            position, criterion = parsed
            keyed.append(((position, not row.moved, row.order), criterion))
    too_many = count_problem(len(keyed))
    if too_many:
        problems.append(f"{too_many}: remove some rows")
    if problems:
        raise EditorInputError(problems)
    keyed.sort(key=lambda kc: kc[0])
    return [c for _, c in keyed]


def add_criterion(
    criteria: Sequence[CriterionData],
    title: str,
    description: str,
    category: Category,
    weight: float | None = None,
) -> list[CriterionData]:
    """`criteria` with one more at the end, as the editor's "Add criterion" form
    gives it: text cleaned of NULs and stripped, the weight the category's RaR
    default when not given. Raises EditorInputError (nothing added) when a text is
    blank, the weight is out of bounds or the rubric would be too long."""
    texts = [clean_text(t or "")[0].strip() for t in (title, description)]
    problems = [
        f"the {name} is blank" for name, t in zip(TEXT_COLUMNS, texts, strict=True) if not t
    ]
    value = DEFAULT_WEIGHT[category] if weight is None else weight
    if (bad := weight_problem(value)) is not None:
        problems.append(bad)
    if (too_many := count_problem(len(criteria) + 1)) is not None:
        problems.append(too_many)
    if problems:
        raise EditorInputError([f"new criterion: {p}" for p in problems])
    return [*criteria, CriterionData(texts[0], texts[1], category, float(value))]
