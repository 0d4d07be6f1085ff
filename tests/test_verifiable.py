"""Verifiable rewards: answer extraction on real-looking completions, scoring against
reference answers, and the strict config (regexes that could hang a worker are
refused). Unit tier: pure functions, no database."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from pydantic import ValidationError
from rubricforge.models.training.verifiable import (
    MATCH_TIMEOUT_S,
    RegexOptions,
    Scorer,
    VerifiableReward,
    boxed,
    choice_letter,
    compile_pattern,
    final_answer,
    final_number,
    parse_numbers,
    regex_found,
    score,
)

DATA = Path("/work/shared/data/rar_medicine_sample.jsonl")
GPQA_COT = (
    "Let's think step by step. The reaction is an E2 elimination, so the anti-periplanar "
    "hydrogen leaves; options (A) and (C) keep the wrong stereochemistry.\n\n"
    "Answer: B"
)


def reward(kind: str, weight: float = 1.0, **options: object) -> VerifiableReward:
    return VerifiableReward(kind=kind, weight=weight, options=options)  # type: ignore[arg-type]


# --- extraction ----------------------------------------------------------------------


def test_boxed_takes_the_last_box_with_nested_braces() -> None:
    text = r"First \boxed{2} was wrong; so $\boxed{\frac{3}{4}}$ and \boxed {x^{2}+1}."
    assert boxed(text) == "x^{2}+1"
    assert boxed(r"\boxed{\frac{3}{4}}") == r"\frac{3}{4}"
    assert boxed(r"unclosed \boxed{3") is None
    assert boxed("no box") is None


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        (GPQA_COT, "B"),
        ("The answer is (C).", "C"),
        ("Final Answer: **D**", "D"),
        (r"Therefore $\boxed{\text{(A)}}$", "A"),
        (r"\boxed{B}", "B"),
        ("answer: (b)", None),  # lower case is not an option letter
        ("I considered (A) and (B); the mechanism rules out (A), leaving (D) as correct.", "D"),
        ("B) Phlyctenular conjunctivitis", "B"),
        ("The answer depends on the patient.", None),
        ("Answer: E", None),  # not among ABCD
    ],
)
def test_choice_letter(text: str, letter: str | None) -> None:
    assert choice_letter(text, "ABCD") == letter


def test_choice_letter_of_a_real_rar_medicine_reference() -> None:
    rows = [json.loads(line) for line in DATA.read_text().splitlines()]
    with_options = [r for r in rows if "\nD. " in r["question"]]
    assert with_options, "the sample has a multiple-choice row"
    ref = with_options[0]["reference_answer"]
    assert ref.endswith("the answer is:\n\nD. Vernal kerato conjunctivitis")
    assert choice_letter(ref, "ABCD") == "D"
    assert final_answer(ref) == "D. Vernal kerato conjunctivitis"


def test_final_answer_prefers_box_then_answer_line_then_whole_text() -> None:
    assert final_answer(r"The answer is 4, or rather \boxed{5}") == "5"
    assert final_answer("Reasoning...\nFinal answer: $x = 2$") == "x = 2"
    assert final_answer("The answer is:\n\n  Paris\n") == "Paris"
    assert final_answer("He answered quickly: Paris") == "He answered quickly: Paris"
    assert final_answer("  just this ") == "just this"


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("The total is 1,234.5 mg", [1234.5]),
        (r"\boxed{\frac{3}{4}}", [0.75]),
        ("so x = 3/4 and y = 7", [0.75, 7.0]),
        ("rate 2.5e-3 per s, pH −1", [0.0025, -1.0]),
        ("about 12% of .5 L", [12.0, 0.5]),
        ("divide by 0/0 is undefined", []),
        ("v2 has no number", []),
    ],
)
def test_parse_numbers(text: str, numbers: list[float]) -> None:
    assert parse_numbers(text) == pytest.approx(numbers)


def test_final_number_reads_the_answer_not_the_working() -> None:
    assert final_number("Dose = 70 kg x 2 mg/kg = 140 mg.\nAnswer: 140 mg") == 140
    assert final_number(r"We get 12 then 13, so \boxed{12.5}") == 12.5
    assert final_number("first 3, then 4") == 4
    assert final_number("no numbers") is None


# --- scoring -------------------------------------------------------------------------


def test_choice_scores_against_the_reference_letter() -> None:
    check = reward("choice", letters="ABCD")
    assert score(check, GPQA_COT, "The correct option is (B)") == 1.0
    assert score(check, GPQA_COT, "Answer: C") == 0.0
    assert score(check, "I cannot tell.", "Answer: C") == 0.0
    # A reference without a letter cannot be checked: None, not a zero reward.
    assert score(check, GPQA_COT, "Vernal keratoconjunctivitis") is None
    assert score(check, GPQA_COT, None) is None


def test_numeric_tolerance_is_absolute_or_relative() -> None:
    check = reward("numeric", abs_tol=0.01, rel_tol=0.0)
    assert score(check, "Answer: 3.005", "3") == 1.0
    assert score(check, "Answer: 3.02", "3") == 0.0
    relative = reward("numeric", abs_tol=0.0, rel_tol=0.01)
    assert score(relative, r"\boxed{1,010}", "The answer is 1000.") == 1.0
    assert score(relative, r"\boxed{1,011}", "The answer is 1000.") == 0.0
    assert score(relative, "no idea", "1000") == 0.0
    assert score(relative, "42", "no number in the reference") is None


def test_exact_compares_final_answers_normalised() -> None:
    check = reward("exact")
    ref = "Therefore, the answer is:\n\nD. Vernal kerato conjunctivitis"
    assert score(check, "So the answer is d.  vernal KERATO conjunctivitis.", ref) == 1.0
    assert score(check, "So the answer is D. Trachoma", ref) == 0.0
    strict = reward("exact", case_sensitive=True)
    assert score(strict, r"\boxed{\text{NaCl}}", "Answer: NaCl") == 1.0
    assert score(strict, r"\boxed{nacl}", "Answer: NaCl") == 0.0


def test_regex_reward_on_match_or_on_no_match() -> None:
    has_answer = Scorer(reward("regex", pattern=r"(?m)^Answer: [A-D]$"))
    assert has_answer(GPQA_COT, None) == 1.0
    assert has_answer("The answer is B", "anything") == 0.0
    no_drug = Scorer(reward("regex", pattern="thalidomide", ignore_case=True, reward_on="no_match"))
    assert no_drug("Give Thalidomide.", None) == 0.0
    assert no_drug("Give ondansetron.", None) == 1.0


def test_a_regex_that_runs_out_of_time_is_unchecked_not_hung() -> None:
    # Built directly (the config would refuse it): the worker's timeout still holds.
    evil = compile_pattern(RegexOptions.model_construct(pattern=r"(a|aa)+$", ignore_case=False))
    started = time.perf_counter()
    assert regex_found(evil, "a" * 5000 + "!") is None
    assert time.perf_counter() - started < 20 * MATCH_TIMEOUT_S + 1
    assert regex_found(evil, "aaa") is True


# --- the config ----------------------------------------------------------------------


def problem(**fields: object) -> str:
    with pytest.raises(ValidationError) as err:
        VerifiableReward.model_validate(fields)
    return err.value.errors()[0]["msg"]


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(\w+\s?)*$", r"^(a|aa)+$"])
def test_catastrophic_patterns_are_refused_at_submit(pattern: str) -> None:
    started = time.perf_counter()
    msg = problem(kind="regex", weight=1, options={"pattern": pattern})
    assert "backtracks catastrophically" in msg
    assert time.perf_counter() - started < 10


def test_bad_options_are_named() -> None:
    assert "not a valid regex" in problem(kind="regex", weight=1, options={"pattern": "(unclosed"})
    assert "at most 300 characters" in problem(
        kind="regex", weight=1, options={"pattern": "a" * 301}
    )
    assert "NUL" in problem(kind="regex", weight=1, options={"pattern": "a\x00b"})
    msg = problem(kind="numeric", weight=1, options={"tol": 0.1})
    assert "options.tol: not an option of numeric (its options: abs_tol, rel_tol)" in msg
    assert "options.rel_tol" in problem(kind="numeric", weight=1, options={"rel_tol": 2})
    assert "capital letters" in problem(kind="choice", weight=1, options={"letters": "AAB"})
    assert "weight 0 adds nothing" in problem(kind="exact", weight=0)
    assert problem(kind="fuzzy", weight=1).startswith("Input should be 'exact'")


def test_options_are_stored_complete() -> None:
    check = reward("numeric", abs_tol=0.5)
    assert check.options == {"abs_tol": 0.5, "rel_tol": 1e-4}
    assert reward("regex", pattern="x").options == {
        "pattern": "x",
        "ignore_case": False,
        "reward_on": "match",
    }
