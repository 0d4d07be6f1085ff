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


# The weight a new criterion of each category starts from (RaR's drafting prompt).
DEFAULT_WEIGHT: dict[Category, float] = {
    Category.essential: 5,
    Category.important: 3,
    Category.optional: 1,
    Category.pitfall: -1,
}


def with_prefix(category: Category, description: str) -> str:
    """The RaR `rubric_list` form of a criterion."""
    return f"{category.value} Criteria: {description}"


# --- Pitfall polarity -------------------------------------------------------
# The sign of the weight is the polarity: positive = good when met, negative =
# bad when met (the response made the mistake). The wording must agree, and RaR's
# public data mixes two readings of "Does not ...":
# - an avoidance ("Avoids X", "Does not misread X as Y"): good when met, so with a
#   negative weight it punishes the good answer;
# - an omission ("Does not mention X", "Fails to explain X"): bad when met, which
#   is right with a negative weight and backwards with a positive one.
# We only flag; the expert rewords. Nothing flips silently.
_AVOIDANCE_RE = re.compile(
    r"^\s*(?:the\s+response\s+)?(?:"
    r"avoids?|avoiding|does\s+not|doesn'?t|do\s+not|did\s+not|never|refrains?|"
    r"no\b|not\b|without|omits?\s+no|steers?\s+clear|excludes?|abstains?"
    r")",
    re.I,
)
# What a good answer would say or do, left out: "Does not mention", "Fails to
# explain", "Omits the dose". Verbs that read both ways ("Does not recommend X",
# "Does not select X") are left to the avoidance reading, so the lint asks.
_OMISSION_RE = re.compile(
    r"^\s*(?:the\s+response\s+)?(?:"
    r"fails?\s+to|failing\s+to|omits?\b(?!\s+no\b)|omitting|neglects?\s+to|misses|"
    r"leaves?\s+out|forgets?\s+to|lacks?\b|"
    r"(?:does\s+not|doesn'?t|did\s+not|do\s+not)\s+(?:\w+ly\s+)?(?:"
    r"mention|include|address|identify|explain|note|discuss|state|consider|provide|specify|"
    r"describe|clarify|acknowledge|list|cover|emphasi[sz]e|highlight|advise|warn|ask|assess|"
    r"offer|give|recogni[sz]e|name|define|cite|report|outline|detail|indicate|reference|"
    r"distinguish|differentiate|evaluate|screen|refer|counsel|check|monitor|calculate|"
    r"compute|justify|show|answer|conclude"
    r")\b)",
    re.I,
)

POLARITY_AVOIDANCE = "polarity:avoidance"
POLARITY_OMISSION = "polarity:omission_rewarded"
POLARITY_MIXED = "polarity:title_description_disagree"

# What the flags mean, in the words the app shows.
FLAG_TEXT = {
    POLARITY_AVOIDANCE: "worded as what a good answer does, but counted as a mistake",
    POLARITY_OMISSION: "worded as something missing, but rewarded",
    POLARITY_MIXED: "title and description point in opposite directions",
}


POLARITY_FLAGS = (POLARITY_AVOIDANCE, POLARITY_OMISSION, POLARITY_MIXED)


def is_flagged(flags: Iterable[str]) -> bool:
    """Whether a criterion counts as flagged (its wording and sign may disagree).
    The one definition behind every count: import summary, Prompts, Overview, detail."""
    return any(f in POLARITY_FLAGS for f in flags)


def current_flags(title: str, description: str, weight: float, stored: Iterable[str]) -> list[str]:
    """A stored criterion's flags as today's rules read it: the polarity flags are
    recomputed from its text and sign (an earlier import's reading does not linger),
    the others (replaced NULs, where a category came from) are kept."""
    kept = [f for f in stored if not f.startswith("polarity:")]
    return polarity_flags(title, description, weight) + kept


def flag_text(flag: str) -> str:
    """A stored flag in plain words (an unknown flag as it is)."""
    return FLAG_TEXT.get(flag, flag)


def polarity(weight: float) -> str:
    """The criterion's polarity, which its signed weight carries."""
    return "good when met" if weight > 0 else "bad when met"


def reads_as_omission(text: str) -> bool:
    """Worded as something left out ("Does not mention X"): bad when met."""
    return bool(_OMISSION_RE.match(text))


def reads_as_avoidance(text: str) -> bool:
    """Worded as a mistake avoided ("Avoids X", "Does not misread X"): good when met."""
    return bool(_AVOIDANCE_RE.match(text)) and not reads_as_omission(text)


def polarity_flags(title: str, description: str, weight: float) -> list[str]:
    """Lint flags for a criterion whose wording and sign disagree.

    A negative weight on a criterion worded as an avoidance (title or description)
    punishes the good answer; a positive weight on one worded as an omission
    rewards the gap. Title and description disagree when one reads as an avoidance
    and the other does not.
    """
    t, d = reads_as_avoidance(title), reads_as_avoidance(description)
    flags: list[str] = []
    if weight < 0 and (t or d):
        flags.append(POLARITY_AVOIDANCE)
    if weight > 0 and reads_as_omission(description):
        flags.append(POLARITY_OMISSION)
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

    @property
    def polarity(self) -> str:
        return polarity(self.weight)


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
