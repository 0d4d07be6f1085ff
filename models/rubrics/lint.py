"""Rubric lint: pure rules over a list of criteria, shown live in the editor.

Errors are things that make a rubric train wrong or break RaR's contract
(wrong sign, a pitfall that rewards the mistake, no Essential item, a count
outside 7-20); approval asks for confirmation while any remain. Warnings are
about wording and taste and never block anything.

Text rules are heuristics on the description (the part the judge reads); they
aim to catch the common cases without flagging ordinary clinical prose, so
each has a test of what it must *not* flag as well as what it must.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from rubricforge.models.rubrics.criteria import (
    POLARITY_AVOIDANCE,
    POLARITY_MIXED,
    POLARITY_OMISSION,
    CriterionData,
    polarity_flags,
)
from rubricforge.models.rubrics.orm import Category

MIN_ITEMS, MAX_ITEMS = 7, 20
# RaR's drafting prompt: Essential 5, Important 3-4, Optional 1-2, Pitfall -1 or -2.
WEIGHT_RANGES: dict[Category, tuple[float, float]] = {
    Category.essential: (5, 5),
    Category.important: (3, 4),
    Category.optional: (1, 2),
    Category.pitfall: (-2, -1),
}
DUPLICATE_THRESHOLD = 0.85


class Severity(enum.StrEnum):
    error = "error"
    warning = "warning"


@dataclass(frozen=True)
class Finding:
    severity: Severity
    rule: str
    index: int | None  # 0-based position of the criterion; None for the whole rubric
    message: str  # says what to change; positions in it are 1-based, as the editor shows

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.error


def _error(rule: str, index: int | None, message: str) -> list[Finding]:
    return [Finding(Severity.error, rule, index, message)]


def _warning(rule: str, index: int | None, message: str) -> list[Finding]:
    return [Finding(Severity.warning, rule, index, message)]


def _label(i: int, c: CriterionData) -> str:
    return f"#{i + 1} ({c.title.strip() or 'untitled'})"


def _fmt(w: float) -> str:
    return f"{w:g}"


def _count(criteria: Sequence[CriterionData]) -> list[Finding]:
    n = len(criteria)
    if MIN_ITEMS <= n <= MAX_ITEMS:
        return []
    what = "add criteria" if n < MIN_ITEMS else "merge or drop criteria"
    return _error("count:range", None, f"{n} criteria; RaR rubrics have 7-20: {what}.")


def _essential(criteria: Sequence[CriterionData]) -> list[Finding]:
    if not criteria or any(c.category is Category.essential for c in criteria):
        return []
    return _error(
        "essential:missing",
        None,
        "no Essential criterion: mark what a correct answer cannot do without as Essential.",
    )


def _empty(i: int, c: CriterionData) -> list[Finding]:
    blank = [name for name in ("title", "description") if not getattr(c, name).strip()]
    if not blank:
        return []
    missing = " and no ".join(blank)
    return _error("text:empty", i, f"#{i + 1} has no {missing}: fill it in or delete the row.")


def _weight(i: int, c: CriterionData) -> list[Finding]:
    low, high = WEIGHT_RANGES[c.category]
    w, cat = _fmt(c.weight), c.category.value
    if c.category is Category.pitfall and c.weight >= 0:
        return _error(
            "weight:sign",
            i,
            f"{_label(i, c)}: a Pitfall needs a negative weight (RaR: -1 or -2), not {w}; "
            "or change its category.",
        )
    if c.category is not Category.pitfall and c.weight <= 0:
        return _error(
            "weight:sign",
            i,
            f"{_label(i, c)}: an {cat} criterion needs a positive weight, not {w}; "
            "make it a Pitfall if meeting it is a mistake.",
        )
    if not low <= c.weight <= high:
        rar = _fmt(low) if low == high else f"{_fmt(low)} to {_fmt(high)}"
        return _warning(
            "weight:range",
            i,
            f"{_label(i, c)}: weight {w} is outside RaR's {rar} for {cat}; "
            "change the weight or the category.",
        )
    return []


def _polarity(i: int, c: CriterionData) -> list[Finding]:
    """One consistent fix each: reword to match the sign, never flip the sign (a
    Pitfall keeps its negative weight, everything else its positive one)."""
    flags = polarity_flags(c.title, c.description, c.weight)
    out = []
    if POLARITY_AVOIDANCE in flags:
        out += _error(
            POLARITY_AVOIDANCE,
            i,
            f"{_label(i, c)} is worded as something a good answer does, but its negative "
            f"weight {_fmt(c.weight)} counts meeting it as a mistake, so a good answer would "
            "lose reward. Reword it as the mistake itself (for example 'Recommends codeine' "
            "instead of 'Avoids recommending codeine') and keep the negative weight.",
        )
    if POLARITY_OMISSION in flags:
        out += _error(
            POLARITY_OMISSION,
            i,
            f"{_label(i, c)} is worded as something missing ('Does not mention ...'), but "
            f"its positive weight {_fmt(c.weight)} rewards meeting it, so an answer that "
            "leaves it out would gain. Reword it as what a good answer does (for example "
            "'Mentions the dose') and keep the positive weight.",
        )
    if POLARITY_MIXED in flags:
        out += _warning(
            POLARITY_MIXED,
            i,
            f"{_label(i, c)}: the title and the description point in opposite directions "
            "(one reads as avoiding something, the other does not); make them say the same.",
        )
    return out


_PUNCT_RE = re.compile(r"[^\w\s]+")


def normalize_text(text: str) -> str:
    """Lower-case, punctuation stripped, whitespace collapsed."""
    return " ".join(_PUNCT_RE.sub(" ", text.lower()).split())


def similarity(a: str, b: str) -> float:
    """The larger of character similarity and word overlap of the normalised texts:
    the first catches small rewordings, the second reordered clauses."""
    na, nb = normalize_text(a), normalize_text(b)
    if not na or not nb:
        return 0.0
    ta, tb = set(na.split()), set(nb.split())
    jaccard = len(ta & tb) / len(ta | tb)
    return max(SequenceMatcher(None, na, nb).ratio(), jaccard)


def _duplicates(criteria: Sequence[CriterionData]) -> dict[int, list[Finding]]:
    """Each criterion that nearly repeats an earlier one, keyed by its index."""
    out: dict[int, list[Finding]] = {}
    for j, cj in enumerate(criteria):
        for i in range(j):
            score = similarity(criteria[i].description, cj.description)
            if score >= DUPLICATE_THRESHOLD:
                out[j] = _warning(
                    "text:duplicate",
                    j,
                    f"{_label(j, cj)} nearly repeats {_label(i, criteria[i])} "
                    f"({score:.0%} similar): merge them or make each check distinct.",
                )
                break
    return out


# A criterion is judged alone, against the response only: it cannot point at
# other criteria or at material the judge does not see.
_OTHER_CRITERIA = "points at other criteria"
_NOT_SELF_CONTAINED = [
    (r"\bas (?:mentioned |stated |noted |described |said )?(?:above|before|earlier)\b",
     _OTHER_CRITERIA),
    (r"\bsee (?:the )?(?:previous|above|below|earlier)\b", _OTHER_CRITERIA),
    (r"\bsame as\b|\bditto\b|\b(?:previous|preceding|above) (?:criterion|item|point)\b",
     _OTHER_CRITERIA),
    (r"\b(?:reference|expected|gold|ideal|model) (?:answer|response|solution)\b",
     "refers to an answer the judge does not see"),
    (r"^(?:it|this|that|they|these|those|he|she)\b(?! (?:response|answer)\b)",
     "starts with a pronoun that has no subject"),
    (r"^(?:(?:gives|states|provides|reaches|selects|chooses|picks|gets|has|finds) )?"
     r"the (?:correct |right |final |expected )?answer(?: is (?:correct|right|given))?$",
     "says 'the answer' without saying what it is"),
]  # fmt: skip
_NOT_SELF_CONTAINED_RES = [(re.compile(p), why) for p, why in _NOT_SELF_CONTAINED]


def _self_contained(i: int, c: CriterionData) -> list[Finding]:
    text = " ".join(c.description.lower().split()).rstrip(".!")
    for pattern, why in _NOT_SELF_CONTAINED_RES:
        if pattern.search(text):
            return _warning(
                "text:not_self_contained",
                i,
                f"{_label(i, c)} {why}: write it so a judge can check it alone "
                "(name the fact, drug, answer or step).",
            )
    return []


# Verbs that start a check in RaR-style criteria. Two of them joined by "and",
# ";" or "as well as" make two checks in one criterion. Plain lists of nouns
# ("burning, itching, and lacrimation") contain no second verb and pass.
_CHECK_VERBS = (
    "identifies|mentions|explains|states|describes|notes|lists|recommends|discusses|provides|"
    "includes|highlights|recognizes|recognises|suggests|advises|clarifies|defines|calculates|"
    "computes|compares|differentiates|distinguishes|justifies|emphasizes|emphasises|concludes|"
    "addresses|considers|acknowledges|specifies|outlines|cites|gives|uses|avoids|offers|"
    "evaluates|interprets|summarizes|summarises|presents|warns|demonstrates|details|indicates|"
    "derives|proposes|selects|chooses|confirms|rules|does|fails|omits"
)
_COMPOUND_RE = re.compile(
    r"(?:\band\b|;|\bas well as\b)\s+(?:also |then |correctly |clearly |briefly )?"
    rf"(?:{_CHECK_VERBS})\b"
)


def _compound(i: int, c: CriterionData) -> list[Finding]:
    m = _COMPOUND_RE.search(" ".join(c.description.lower().split()))
    if not m:
        return []
    return _warning(
        "text:compound",
        i,
        f"{_label(i, c)} makes several checks ('... {m.group(0)} ...'): split it so each "
        "criterion is met or not as one.",
    )


_VAGUE_RE = re.compile(
    r"\b(good|appropriate(?:ly)?|adequate(?:ly)?|proper(?:ly)?|sufficient(?:ly)?|"
    r"reasonabl[ey]|suitabl[ey]|(?<!as )well(?![- ]as\b|-))\b"
)
# A number or a named example is the measure that makes such a word checkable.
_MEASURE_RE = re.compile(r"\d|\be\.g\.|\bi\.e\.|\bsuch as\b|\bnamely\b|\bincluding\b")


def _vague(i: int, c: CriterionData) -> list[Finding]:
    text = c.description.lower()
    m = _VAGUE_RE.search(text)
    if not m or _MEASURE_RE.search(text):
        return []
    return _warning(
        "text:vague",
        i,
        f"{_label(i, c)} says '{m.group(1)}' without a measure: say what counts "
        "(a threshold, a named drug or step) so two judges would agree.",
    )


def lint(criteria: Sequence[CriterionData]) -> list[Finding]:
    """Every finding for a rubric: rubric-level first, then criterion by criterion."""
    findings = _count(criteria) + _essential(criteria)
    duplicates = _duplicates(criteria)
    for i, c in enumerate(criteria):
        findings += _empty(i, c) + _weight(i, c) + _polarity(i, c)
        if c.description.strip():
            findings += _self_contained(i, c) + _compound(i, c) + _vague(i, c)
        findings += duplicates.get(i, [])
    return findings


def has_errors(findings: Sequence[Finding]) -> bool:
    return any(f.is_error for f in findings)


# Each rule in a few plain words, for the editor's per-row "Check" column.
SHORT: dict[str, str] = {
    "text:empty": "blank text",
    "weight:sign": "weight has the wrong sign",
    "weight:range": "weight outside RaR's range",
    POLARITY_AVOIDANCE: "good wording, counted as a mistake",
    POLARITY_OMISSION: "missing thing, rewarded",
    POLARITY_MIXED: "title and description disagree",
    "text:duplicate": "repeats another criterion",
    "text:not_self_contained": "not self-contained",
    "text:compound": "several checks in one",
    "text:vague": "vague word",
}


def row_checks(findings: Sequence[Finding], rows: int) -> list[str]:
    """Per criterion row, what the lint found there in short words ("" when
    nothing): the first error (else warning), and how many more the panel lists."""
    marks: list[list[Finding]] = [[] for _ in range(rows)]
    for f in findings:
        if f.index is not None and 0 <= f.index < rows:
            marks[f.index].append(f)
    out = []
    for found in marks:
        found.sort(key=lambda f: not f.is_error)
        text = (
            f"{found[0].severity.value}: {SHORT.get(found[0].rule, found[0].rule)}" if found else ""
        )
        out.append(text + (f" (+{len(found) - 1} more)" if len(found) > 1 else ""))
    return out
