"""A readable diff between two lists of criteria. Pure; no I/O.

Criteria are matched by key, which an edit keeps for the same criterion, so a
reworded criterion shows as *changed* (with the fields that differ), not as one
removed and one added. A criterion counts as *moved* when it is outside the
longest run of criteria that kept their relative order, so moving one item
to the top reports that item, not every item it pushed down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from rubricforge.models.rubrics.criteria import CriterionData

FIELDS = ("title", "description", "category", "weight")


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: object
    after: object


@dataclass(frozen=True)
class CriterionChange:
    key: str
    before: CriterionData
    after: CriterionData
    before_index: int  # 0-based positions in each list
    after_index: int
    fields: tuple[FieldChange, ...]  # empty when it only moved
    moved: bool


@dataclass(frozen=True)
class RubricDiff:
    added: tuple[CriterionData, ...]  # in the new order
    removed: tuple[CriterionData, ...]  # in the old order
    changed: tuple[CriterionChange, ...]  # edited or moved, in the new order
    unchanged: int

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def summary(self) -> str:
        """'2 added, 1 removed, 3 changed, 1 moved' (moved-only items counted as moved)."""
        edited = sum(1 for c in self.changed if c.fields)
        moved = sum(1 for c in self.changed if c.moved and not c.fields)
        parts = [
            f"{n} {word}"
            for n, word in (
                (len(self.added), "added"),
                (len(self.removed), "removed"),
                (edited, "changed"),
                (moved, "moved"),
            )
            if n
        ]
        return ", ".join(parts) or "no changes"


def _field_changes(a: CriterionData, b: CriterionData) -> tuple[FieldChange, ...]:
    out = []
    for name in FIELDS:
        before, after = getattr(a, name), getattr(b, name)
        if name == "weight":
            before, after = float(before), float(after)
        if before != after:
            out.append(FieldChange(name, before, after))
    return tuple(out)


def diff_criteria(a: Sequence[CriterionData], b: Sequence[CriterionData]) -> RubricDiff:
    """What changed from criteria list `a` (older) to `b` (newer)."""
    index_a = {c.key: i for i, c in enumerate(a)}
    index_b = {c.key: i for i, c in enumerate(b)}
    common_a = [c.key for c in a if c.key in index_b]
    common_b = [c.key for c in b if c.key in index_a]
    matcher = SequenceMatcher(None, common_a, common_b, autojunk=False)
    in_place = {
        key
        for block in matcher.get_matching_blocks()
        for key in common_a[block.a : block.a + block.size]
    }
    changed = []
    unchanged = 0
    for key in common_b:
        before, after = a[index_a[key]], b[index_b[key]]
        fields = _field_changes(before, after)
        moved = key not in in_place
        if fields or moved:
            changed.append(
                CriterionChange(key, before, after, index_a[key], index_b[key], fields, moved)
            )
        else:
            unchanged += 1
    return RubricDiff(
        added=tuple(c for c in b if c.key not in index_a),
        removed=tuple(c for c in a if c.key not in index_b),
        changed=tuple(changed),
        unchanged=unchanged,
    )
