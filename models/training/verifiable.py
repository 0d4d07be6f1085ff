"""Verifiable rewards next to the rubric reward: answer checks against the prompt's
reference answer (exact, multiple-choice, numeric) and a regex check on the
completion.

A job lists them under `verifiable_rewards` ({kind, weight, options}); the worker
turns each into one more TRL reward function and passes the weights, the rubric
reward's first, as GRPOConfig.reward_weights. Everything here is pure: the
extraction functions take text and return text or numbers, `score` gives 1.0 or
0.0, or None when a completion cannot be checked (no reference answer to compare
with, or a regex that ran out of time).

Regexes come from users, so they run under the `regex` module's match timeout
(`MATCH_TIMEOUT_S`), are capped at `MAX_PATTERN` characters, and are refused at
submit when probes show catastrophic backtracking (`_too_slow`): a hostile config
can cost a worker at most the timeout per completion, never hang it.
"""

from __future__ import annotations

import math
import re
import time
from fractions import Fraction
from typing import Any, Literal

import regex
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Kind = Literal["exact", "choice", "numeric", "regex"]
MAX_VERIFIABLE = 8  # verifiable rewards per job
MAX_PATTERN = 300  # characters of one regex
MATCH_TIMEOUT_S = 0.05  # one regex search on one completion, on the worker
PROBE_TIMEOUT_S = 0.5  # all probe searches of one pattern at submit (a sane one: ~1 ms)
_PROBE_LENGTH = 5000


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ExactOptions(_Options):
    case_sensitive: bool = Field(default=False, description="Compare letter case too.")


class ChoiceOptions(_Options):
    letters: str = Field(
        default="ABCDEFGHIJ",
        description="The option letters a question may have (GPQA: ABCD).",
    )

    @model_validator(mode="after")
    def _letters(self) -> ChoiceOptions:
        if not re.fullmatch(r"[A-Z]{2,26}", self.letters) or len(set(self.letters)) != len(
            self.letters
        ):
            raise ValueError("letters must be 2-26 different capital letters, e.g. ABCD")
        return self


class NumericOptions(_Options):
    abs_tol: float = Field(default=1e-6, ge=0, le=1e12, description="Absolute tolerance.")
    rel_tol: float = Field(default=1e-4, ge=0, le=1, description="Relative tolerance.")


class RegexOptions(_Options):
    pattern: str = Field(min_length=1, max_length=MAX_PATTERN, description="The regex.")
    ignore_case: bool = Field(default=False, description="Match regardless of case.")
    reward_on: Literal["match", "no_match"] = Field(
        default="match",
        description="match: 1.0 when the pattern is found in the completion; no_match: 1.0 "
        "when it is not (e.g. a forbidden phrase).",
    )

    @model_validator(mode="after")
    def _compiles(self) -> RegexOptions:
        compiled = compile_pattern(self)  # raises ValueError with the reason
        if _too_slow(compiled, self.pattern):
            raise ValueError(
                "the pattern backtracks catastrophically (its probes took more than "
                f"{PROBE_TIMEOUT_S:g} s); avoid nested repeats such as (a+)+"
            )
        return self


OPTIONS: dict[str, type[_Options]] = {
    "exact": ExactOptions,
    "choice": ChoiceOptions,
    "numeric": NumericOptions,
    "regex": RegexOptions,
}


class VerifiableReward(BaseModel):
    """One verifiable reward: its kind, its weight next to the rubric reward, options."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    kind: Kind = Field(
        description="exact: the final answer equals the reference's; choice: the same option "
        "letter as the reference ((B), Answer: B, \\boxed{B}); numeric: the same number within "
        "a tolerance; regex: a pattern is (or is not) found in the completion."
    )
    weight: float = Field(
        ge=-100, le=100, description="Weight in GRPOConfig.reward_weights (the rubric's: 1)."
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="exact: case_sensitive; choice: letters; numeric: abs_tol, rel_tol; "
        "regex: pattern, ignore_case, reward_on.",
    )

    @model_validator(mode="after")
    def _options(self) -> VerifiableReward:
        if self.weight == 0:
            raise ValueError("weight 0 adds nothing; remove the reward or give it a weight")
        try:
            parsed = OPTIONS[self.kind].model_validate(self.options)
        except ValidationError as exc:
            allowed = ", ".join(OPTIONS[self.kind].model_fields)
            shown = "; ".join(
                ".".join(["options", *(str(p) for p in e["loc"])])
                + ": "
                + (
                    f"not an option of {self.kind} (its options: {allowed})"
                    if e["type"] == "extra_forbidden"
                    else e["msg"].removeprefix("Value error, ")
                )
                for e in exc.errors()
            )
            raise ValueError(shown) from None
        self.options = parsed.model_dump()
        return self

    def parsed(self) -> Any:
        return OPTIONS[self.kind].model_validate(self.options)


# --- extraction -------------------------------------------------------------------

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_ANSWER = re.compile(
    r"\b(?:final\s+answer|answer)\b\s*(?:is|:|=)?\s*(?:is)?\s*:?\s*(?P<tail>.*?)\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_WRAPPERS = re.compile(r"\\text(?:bf|rm)?\s*\{([^{}]*)\}|\\mathrm\s*\{([^{}]*)\}")


def boxed(text: str) -> str | None:
    """The content of the last \\boxed{...} (or \\fbox{...}), braces balanced; None if none."""
    found = None
    for match in _BOXED.finditer(text):
        depth, start = 1, match.end()
        for i in range(start, len(text)):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    found = text[start:i]
                    break
    return found.strip() if found is not None else None


def _unwrap(text: str) -> str:
    # \text{B} -> B, repeated for nesting; $ and ** decorations go.
    for _ in range(3):
        text = _WRAPPERS.sub(lambda m: m.group(1) or m.group(2) or "", text)
    return text.replace("$", "").replace("**", "").strip()


def final_answer(text: str) -> str:
    """The answer a text commits to: the last \\boxed{...}, else what follows the last
    'answer is' / 'Answer:' (the next non-empty line when that one ends there), else
    the whole text. Decorations (\\text{}, $, **) removed."""
    inside = boxed(text)
    if inside is not None:
        return _unwrap(inside)
    matches = list(_ANSWER.finditer(text))
    if matches:
        last = matches[-1]
        tail = last.group("tail")
        if not _unwrap(tail):
            rest = [line for line in text[last.end() :].splitlines() if line.strip()]
            tail = rest[0] if rest else ""
        if _unwrap(tail):
            return _unwrap(tail)
    return _unwrap(text)


def normalize(text: str, *, case_sensitive: bool = False) -> str:
    """Whitespace collapsed, outer punctuation and quotes stripped, case folded."""
    text = " ".join(text.split()).strip(" .;:,!\"'`")
    return text if case_sensitive else text.casefold()


def choice_letter(text: str, letters: str = "ABCDEFGHIJ") -> str | None:
    """The option letter a text picks: '(B)', 'B.', 'B) ...', 'Answer: B', '\\boxed{B}',
    '\\boxed{\\text{(B)}}'. Looks at the final answer first, then the last '(X)' in the
    text. None when no letter of `letters` is found."""
    cls = f"[{letters}]"
    answer = final_answer(text)
    lead = re.match(rf"^\(?({cls})\)?(?=$|[\s.:)\]])", answer.strip().lstrip("*[ "))
    if lead:
        return lead.group(1)
    inline = re.findall(rf"\(({cls})\)", text)
    return inline[-1] if inline else None


_NUMBER = re.compile(
    r"(?<![\w.])(?P<num>[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+−]?\.\d+)"
    r"(?:\s*/\s*(?P<den>\d+(?:\.\d+)?))?(?P<pct>\s*%)?"
)
_FRAC = re.compile(r"\\[dt]?frac\s*\{\s*([-+]?[\d.]+)\s*\}\s*\{\s*([-+]?[\d.]+)\s*\}")


def parse_numbers(text: str) -> list[float]:
    """Every number in a text, in order: 1,234.5, -3, 2.5e-3, 3/4, \\frac{3}{4}, 12%
    (as 12: the reference usually writes the same unit)."""
    text = _FRAC.sub(lambda m: f"{m.group(1)}/{m.group(2)}", text)
    out = []
    for m in _NUMBER.finditer(text):
        num = m.group("num").replace(",", "").replace("−", "-")
        try:
            value = float(num)
            if m.group("den"):
                den = float(m.group("den"))
                if den == 0:
                    continue
                value = float(Fraction(num) / Fraction(m.group("den")))
        except (ValueError, ZeroDivisionError):
            continue
        if math.isfinite(value):
            out.append(value)
    return out


def final_number(text: str) -> float | None:
    """The number a text answers with: the last number of its final answer, else the
    last number anywhere; None when there is none."""
    found = parse_numbers(final_answer(text)) or parse_numbers(text)
    return found[-1] if found else None


# --- regexes ----------------------------------------------------------------------


def compile_pattern(options: RegexOptions) -> Any:
    """The pattern compiled with the `regex` module; ValueError saying why it is not one."""
    if "\x00" in options.pattern:
        raise ValueError("the pattern contains a NUL character")
    flags = regex.IGNORECASE if options.ignore_case else 0
    try:
        return regex.compile(options.pattern, flags)
    except (regex.error, OverflowError, RecursionError) as exc:
        raise ValueError(f"not a valid regex: {exc}") from None


def _too_slow(compiled: Any, pattern: str) -> bool:
    """Whether searches on probe strings run past PROBE_TIMEOUT_S, all together (so a
    submit costs the app at most that per pattern). Probes repeat each letter, digit
    and space the pattern names (and a, 0, space), then end with a character that
    fails the match, which is what makes nested repeats explode."""
    deadline = time.monotonic() + PROBE_TIMEOUT_S
    chars = {c for c in pattern if c.isalnum() or c == " "} | {"a", "0", " "}
    for c in sorted(chars)[:20]:
        for probe in (c * _PROBE_LENGTH + "\x01", (c + " ") * (_PROBE_LENGTH // 2) + "\x01"):
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    return True
                compiled.search(probe, timeout=left)
            except TimeoutError:
                return True
    return False


def regex_found(compiled: Any, text: str, timeout: float = MATCH_TIMEOUT_S) -> bool | None:
    """Whether the pattern occurs in `text`; None when the search ran out of time."""
    try:
        return compiled.search(text, timeout=timeout) is not None
    except TimeoutError:
        return None


# --- scoring ----------------------------------------------------------------------


def score(reward: VerifiableReward, completion: str, reference: str | None) -> float | None:
    """1.0 when the completion passes the check, 0.0 when not, None when it cannot be
    checked (an answer check without a usable reference answer, a regex timeout).
    For regex kinds, use `Scorer`, which compiles the pattern once."""
    return Scorer(reward)(completion, reference)


class Scorer:
    """One verifiable reward, ready to score many completions."""

    def __init__(self, reward: VerifiableReward):
        self.kind = reward.kind
        self.options = reward.parsed()
        self.compiled = compile_pattern(self.options) if reward.kind == "regex" else None

    def __call__(self, completion: str, reference: str | None) -> float | None:
        if self.compiled is not None:
            found = regex_found(self.compiled, completion)
            if found is None:
                return None
            return float(found == (self.options.reward_on == "match"))
        if not reference or not reference.strip():
            return None
        if self.kind == "choice":
            expected = choice_letter(reference, self.options.letters)
            if expected is None:
                return None
            return float(choice_letter(completion, self.options.letters) == expected)
        if self.kind == "numeric":
            want = final_number(reference)
            if want is None:
                return None
            got = final_number(completion)
            if got is None:
                return 0.0
            tol = max(self.options.abs_tol, self.options.rel_tol * abs(want))
            return float(abs(got - want) <= tol)
        case = self.options.case_sensitive
        expected_text = normalize(final_answer(reference), case_sensitive=case)
        got_text = normalize(final_answer(completion), case_sensitive=case)
        return float(bool(expected_text) and got_text == expected_text)
