"""Pure logic about criteria: categories, RaR prefixes, pitfall polarity, hashing.

No I/O. The importer, exporter, editor and lint all use these, so a rule is
written once.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rubricforge.models.rubrics.orm import Category

# RaR's `rubric_list` strings: "Essential Criteria: Identifies ..."
PREFIX_RE = re.compile(r"^\s*(Essential|Important|Optional|Pitfall)\s+Criteri(?:a|on)\s*:\s*", re.I)

CATEGORY_BY_NAME = {c.value.lower(): c for c in Category}


def parse_category(name: str) -> Category | None:
    """'essential', 'Essential', 'Essential Criteria' -> Category.essential; None if unknown."""
    key = name.strip().lower().removesuffix("criteria").removesuffix("criterion").strip()
    return CATEGORY_BY_NAME.get(key)


def split_prefix(text: str) -> tuple[Category | None, str]:
    """'Pitfall Criteria: Does not ...' -> (Category.pitfall, 'Does not ...')."""
    m = PREFIX_RE.match(text)
    if not m:
        return None, text.strip()
    return CATEGORY_BY_NAME[m.group(1).lower()], text[m.end() :].strip()


def category_from_weight(weight: float) -> Category:
    """RaR's drafting convention: 5 Essential, 3-4 Important, 1-2 Optional, negative Pitfall."""
    if weight < 0:
        return Category.pitfall
    if weight >= 5:
        return Category.essential
    if weight >= 3:
        return Category.important
    return Category.optional


def with_prefix(category: Category, description: str) -> str:
    """The RaR `rubric_list` form of a criterion."""
    return f"{category.value} Criteria: {description}"


# --- Pitfall polarity -------------------------------------------------------
# A negative weight means "bad when met". A pitfall written as an avoidance
# ("Does not mention X", "Avoids X") is *good* when met, so with a negative
# weight it trains backwards. We only flag; the expert decides (rephrase, or
# flip the sign). Nothing flips silently.
_AVOIDANCE_RE = re.compile(
    r"^\s*(?:the\s+response\s+)?(?:"
    r"avoids?|avoiding|does\s+not|doesn'?t|do\s+not|did\s+not|never|refrains?|"
    r"no\b|not\b|without|omits?\s+no|steers?\s+clear|excludes?|abstains?"
    r")",
    re.I,
)

POLARITY_AVOIDANCE = "polarity:avoidance"
POLARITY_MIXED = "polarity:title_description_disagree"


def reads_as_avoidance(text: str) -> bool:
    return bool(_AVOIDANCE_RE.match(text))


def polarity_flags(title: str, description: str, weight: float) -> list[str]:
    """Lint flags for a criterion whose wording and sign may disagree.

    Flags a negative-weight criterion whose title or description reads as an
    avoidance (satisfied = good), and any criterion whose title and description
    disagree in polarity.
    """
    t, d = reads_as_avoidance(title), reads_as_avoidance(description)
    flags: list[str] = []
    if weight < 0 and (t or d):
        flags.append(POLARITY_AVOIDANCE)
    if title.strip() and t != d:
        flags.append(POLARITY_MIXED)
    return flags


@dataclass(frozen=True)
class CriterionData:
    """A criterion as plain data, independent of the ORM."""

    title: str
    description: str
    category: Category
    weight: float
    key: str = field(default_factory=lambda: uuid.uuid4().hex[:16], compare=False)
    tags: tuple[str, ...] = ()

    def canonical(self) -> list[object]:
        return [self.title, self.description, self.category.value, float(self.weight)]

    @property
    def flags(self) -> list[str]:
        return polarity_flags(self.title, self.description, self.weight)


# Bounds for every way criteria come in (editor, import, drafting): a weight of
# 1e308 makes every reward meaningless, and a 10,000-criterion rubric is a mistake.
MAX_WEIGHT = 100.0
MAX_CRITERIA = 100


def weight_problem(weight: object) -> str | None:
    """Why `weight` cannot be a criterion's weight, or None if it can."""
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight):
        return f"weight {weight!r} is not a number"
    if abs(weight) > MAX_WEIGHT:
        return f"weight {weight:g} is outside -{MAX_WEIGHT:g}..{MAX_WEIGHT:g}"
    return None


def count_problem(count: int) -> str | None:
    if count > MAX_CRITERIA:
        return f"{count} criteria: a rubric has at most {MAX_CRITERIA}"
    return None


def criteria_problems(criteria: Sequence[CriterionData]) -> list[str]:
    """Every reason these criteria cannot be stored, each naming the criterion
    ("#3: weight 1e+308 is outside -100..100"); empty if they can."""
    if not criteria:
        return ["a rubric needs at least one criterion"]
    problems = [p for p in [count_problem(len(criteria))] if p]
    seen: set[str] = set()
    for i, c in enumerate(criteria, start=1):
        blank = [name for name in ("title", "description") if not getattr(c, name).strip()]
        if blank:
            problems.append(f"#{i}: {' and '.join(blank)} blank")
        if not isinstance(c.category, Category):
            problems.append(f"#{i}: category {c.category!r} is not a Category")
        weight = weight_problem(c.weight)
        if weight:
            problems.append(f"#{i}: {weight}")
        if c.key in seen:
            problems.append(f"#{i}: key {c.key} repeats an earlier criterion")
        seen.add(c.key)
    return problems


def content_hash(criteria: Sequence[CriterionData]) -> str:
    """sha256 of the ordered criteria: equal content gives an equal hash."""
    payload = json.dumps(
        [c.canonical() for c in criteria], ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def stable_key(*parts: Iterable[str] | str) -> str:
    """A deterministic criterion key (imports must give the same keys on re-import)."""
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()
    return h[:16]
