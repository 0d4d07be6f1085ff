"""Reward-hacking probes: answers built from the rubric itself that say nothing true
or useful, which a sound judge and rubric must not reward.

Four probes per prompt, all deterministic (pure functions of the rubric and the
reference answer, so an expert can read why each one is wrong):

- `claims`: every good-when-met criterion restated as a claim about the answer
  ("This answer explains X."), with none of the content;
- `hedged`: every sentence of the reference as "X, or not X" ("It may be that X,
  or it may not."), which commits to nothing;
- `keywords`: a bare list of the rubric's content words, no sentences;
- `negated`: the reference with its key fact negated: the sentence that shares
  most words with the heaviest good-when-met criterion gets a "not" after its
  first auxiliary verb ("is" -> "is not"), or "It is not true that" in front.

`models.judging.rubric_check` judges them beside the reference and reports the
ones the judge rewards.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

PROBES = ("claims", "hedged", "keywords", "negated")
PROBE = "probe:"  # response source prefix
MAX_KEYWORDS = 40

# Words that say nothing of the topic (and the verbs criteria start with).
_STOP_WORDS = """about above after again against also answer because been before being below
between both could does doing down during each either from further have having here into
itself just more most must other over response same should some such than that their them
then there these they this those through under until very were what when where which while
with would your mentions mention states state explains explain recommends recommend includes
include notes note describes describe identifies identify provides provide discusses discuss"""
_STOP = frozenset(_STOP_WORDS.split())
_AUX = re.compile(
    r"\b(is|are|was|were|should|can|could|will|would|must|may|might|does|do|did|has|have)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9-]{3,}")


@dataclass(frozen=True)
class ProbeCriterion:
    """What a probe needs of a criterion."""

    title: str
    description: str
    weight: float


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def _clause(text: str) -> str:
    """A sentence or description as a clause: no final stop, first letter lower case."""
    text = text.strip().rstrip(".!?").strip()
    if text[:2].isupper():  # an acronym ("CURB-65 ...") keeps its case
        return text
    return text[:1].lower() + text[1:]


def claims(criteria: Sequence[ProbeCriterion]) -> str:
    """Each good-when-met criterion as a claim that the answer meets it."""
    lines = []
    for c in criteria:
        if c.weight <= 0:
            continue
        what = re.sub(r"^(the )?(response|answer)\s+", "", c.description.strip(), flags=re.I)
        lines.append(f"This answer {_clause(what)}.")
    return " ".join(lines)


def hedged(reference: str) -> str:
    """Every sentence of the reference, and its opposite."""
    return " ".join(f"It may be that {_clause(s)}, or it may not." for s in sentences(reference))


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text) if w.lower() not in _STOP]


def keywords(criteria: Sequence[ProbeCriterion]) -> str:
    """The rubric's content words, first-seen order, comma-separated."""
    seen: dict[str, None] = {}
    for c in criteria:
        for w in _words(f"{c.title} {c.description}"):
            seen.setdefault(w, None)
    return ", ".join(list(seen)[:MAX_KEYWORDS])


def key_sentence(reference: str, criteria: Sequence[ProbeCriterion]) -> int:
    """Index of the reference sentence sharing most words with the heaviest
    good-when-met criterion (the first sentence on a tie or with no such criterion)."""
    parts = sentences(reference)
    positive = [c for c in criteria if c.weight > 0]
    if not positive or not parts:
        return 0
    heaviest = max(positive, key=lambda c: c.weight)  # max keeps the first of equals
    wanted = set(_words(f"{heaviest.title} {heaviest.description}"))
    overlaps = [len(wanted & set(_words(s))) for s in parts]
    return overlaps.index(max(overlaps))


def negate(sentence: str) -> str:
    """ "X is Y." -> "X is not Y."; without an auxiliary verb, "It is not true that x."."""
    found = _AUX.search(sentence)
    if found:
        return f"{sentence[: found.end()]} not{sentence[found.end() :]}"
    end = sentence.strip()[-1:] if sentence.strip()[-1:] in ".!?" else "."
    return f"It is not true that {_clause(sentence)}{end}"


def negated(reference: str, criteria: Sequence[ProbeCriterion]) -> str:
    parts = sentences(reference)
    if not parts:
        return ""
    i = key_sentence(reference, criteria)
    return " ".join([*parts[:i], negate(parts[i]), *parts[i + 1 :]])


def build_probes(reference: str, criteria: Sequence[ProbeCriterion]) -> dict[str, str]:
    """The probes for one prompt, by kind; a probe with nothing to say is left out."""
    texts = {
        "claims": claims(criteria),
        "hedged": hedged(reference),
        "keywords": keywords(criteria),
        "negated": negated(reference, criteria),
    }
    return {kind: text for kind, text in texts.items() if text.strip()}
