"""Lint rules on small hand-made rubrics: each rule fires on what it should and
stays quiet on ordinary clinical prose; then what fires on real RaR rows."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from rubricforge.models.rubrics.criteria import CriterionData, split_prefix
from rubricforge.models.rubrics.lint import Finding, Severity, has_errors, lint, similarity
from rubricforge.models.rubrics.orm import Category

ESS, IMP, OPT, PIT = Category.essential, Category.important, Category.optional, Category.pitfall

CLEAN = [
    ("Names Diagnosis", "Identifies vernal keratoconjunctivitis as the diagnosis.", ESS, 5),
    ("Seasonal Pattern", "Mentions that symptoms recur with the onset of hot weather.", ESS, 5),
    ("Affected Group", "Highlights that the condition mostly affects young boys.", IMP, 4),
    ("Symptoms", "Describes burning, itching, and lacrimation as the main symptoms.", IMP, 3),
    ("Giant Papillae", "Notes cobblestone giant papillae on the upper tarsal conjunctiva.", IMP, 3),
    ("Trachoma Unlikely", "Explains why trachoma is unlikely in this presentation.", OPT, 2),
    ("Trachoma Answer", "Selects trachoma as the final answer.", PIT, -2),
]


def clean_rubric() -> list[CriterionData]:
    """Seven criteria that break no rule."""
    return [CriterionData(*row) for row in CLEAN]


def rules(findings: list[Finding]) -> list[tuple[str, int | None]]:
    return [(f.rule, f.index) for f in findings]


def with_item(i: int, **changes: object) -> list[CriterionData]:
    items = clean_rubric()
    items[i] = replace(items[i], **changes)  # type: ignore[arg-type]
    return items


def test_clean_rubric_has_no_findings() -> None:
    assert lint(clean_rubric()) == []


def test_item_count_outside_7_to_20_is_an_error() -> None:
    too_few = clean_rubric()[:6]
    too_many = clean_rubric() + [
        CriterionData(
            f"Fact {n}", f"States distinct fact number {n} about allergen {n * 7}.", OPT, 1
        )
        for n in range(14)
    ]
    assert len(too_many) == 21
    for items, word in ((too_few, "add"), (too_many, "merge")):
        found = [f for f in lint(items) if f.rule == "count:range"]
        assert len(found) == 1 and found[0].index is None and found[0].is_error
        assert word in found[0].message
    assert not [f for f in lint(clean_rubric() + too_many[7:20]) if f.rule == "count:range"]


def test_no_essential_item_is_an_error() -> None:
    items = [replace(c, category=IMP, weight=4) if c.category is ESS else c for c in clean_rubric()]
    assert rules(lint(items)) == [("essential:missing", None)]


@pytest.mark.parametrize(
    ("index", "category", "weight"),
    [(0, ESS, -5), (2, IMP, 0), (5, OPT, -1), (6, PIT, 2), (6, PIT, 0)],
)
def test_wrong_sign_for_category_is_an_error(index: int, category: Category, weight: float) -> None:
    findings = lint(with_item(index, category=category, weight=weight))
    assert rules(findings) == [("weight:sign", index)]
    assert findings[0].severity is Severity.error
    assert f"#{index + 1}" in findings[0].message


@pytest.mark.parametrize(
    ("index", "weight", "rar"),
    [(0, 4, "5"), (2, 5, "3 to 4"), (5, 3, "1 to 2"), (6, -3, "-2 to -1"), (2, 3.5, None)],
)
def test_out_of_range_magnitude_is_a_warning(index: int, weight: float, rar: str | None) -> None:
    findings = lint(with_item(index, weight=weight))
    if rar is None:  # 3.5 lies inside Important's 3-4
        assert findings == []
        return
    assert rules(findings) == [("weight:range", index)]
    assert findings[0].severity is Severity.warning and rar in findings[0].message


def test_pitfall_written_as_avoidance_is_a_polarity_error() -> None:
    findings = lint(with_item(6, title="Trachoma chosen", description="Does not select trachoma."))
    assert rules(findings) == [
        ("polarity:avoidance", 6),
        ("polarity:title_description_disagree", 6),
    ]
    assert findings[0].is_error and has_errors(findings)
    # The same wording with a positive weight is a plain good-when-met check.
    assert (
        lint(
            with_item(
                6,
                title="Avoids Trachoma",
                description="Does not select trachoma.",
                category=OPT,
                weight=2,
            )
        )
        == []
    )


def test_title_and_description_disagreeing_is_a_warning() -> None:
    findings = lint(with_item(6, title="Avoids Trachoma"))
    assert ("polarity:title_description_disagree", 6) in rules(findings)
    warning = next(f for f in findings if f.rule == "polarity:title_description_disagree")
    assert warning.severity is Severity.warning


def test_near_duplicate_is_flagged_on_the_later_item() -> None:
    items = clean_rubric()
    items.insert(
        3,
        replace(
            items[1],
            title="Hot Weather",
            description=items[1].description.replace(
                "Mentions that symptoms recur", "Mentions that the symptoms recur"
            ),
        ),
    )
    items[3] = CriterionData(items[3].title, items[3].description, OPT, 2)
    findings = [f for f in lint(items) if f.rule == "text:duplicate"]
    assert [(f.index, f.severity) for f in findings] == [(3, Severity.warning)]
    assert "#2" in findings[0].message
    # Same opening words, different facts: not duplicates.
    assert (
        similarity(
            "Mentions that the CT shows air-fluid levels.",
            "Mentions that the biopsy shows gastric mucosa.",
        )
        < 0.85
    )
    # Reordered words of the same check are.
    assert (
        similarity(
            "Recommends topical cromolyn for itching.", "For itching, recommends topical cromolyn!"
        )
        >= 0.85
    )


@pytest.mark.parametrize(
    "description",
    [
        "Same as above, but for the left eye.",
        "Mentions the drug as mentioned above.",
        "See previous criterion for the dose.",
        "Matches the reference answer.",
        "It explains the mechanism of the allergy.",
        "Gives the correct answer.",
        "The answer is correct.",
    ],
)
def test_not_self_contained(description: str) -> None:
    assert rules(lint(with_item(3, description=description))) == [("text:not_self_contained", 3)]


@pytest.mark.parametrize(
    "description",
    [
        "Identifies (D) Vernal kerato conjunctivitis as the correct answer.",
        "Presents the explanation before stating the final answer.",
        "States that the answer depends on the patient's age.",
        "Explains that itching is the cardinal symptom.",
    ],
)
def test_self_contained_criteria_pass(description: str) -> None:
    assert lint(with_item(3, description=description)) == []


@pytest.mark.parametrize(
    "description",
    [
        "Identifies vernal keratoconjunctivitis and explains its seasonal pattern.",
        "Mentions giant papillae; recommends topical mast cell stabilisers.",
        "Names the diagnosis as well as describes the treatment.",
        "Selects trachoma and does not mention phlyctenular conjunctivitis.",
    ],
)
def test_compound_criteria(description: str) -> None:
    found = lint(with_item(3, description=description))
    assert rules(found) == [("text:compound", 3)]


@pytest.mark.parametrize(
    "description",
    [
        "Clearly describes the symptoms of burning, itching, and lacrimation.",
        "Mentions both cromolyn and olopatadine as first-line drops.",
        "Explains the relationship between IgA deficiency and anaphylaxis.",
    ],
)
def test_lists_of_things_are_not_compound(description: str) -> None:
    assert lint(with_item(3, description=description)) == []


@pytest.mark.parametrize(
    ("description", "word"),
    [
        ("Gives appropriate advice on eye drops.", "appropriate"),
        ("Explains the mechanism well.", "well"),
        ("Provides a good summary of the findings.", "good"),
        ("Adequately addresses the differential.", "adequately"),
        ("Uses the drops properly.", "properly"),
    ],
)
def test_vague_words_without_a_measure(description: str, word: str) -> None:
    found = lint(with_item(3, description=description))
    assert rules(found) == [("text:vague", 3)]
    assert f"'{word}'" in found[0].message


@pytest.mark.parametrize(
    "description",
    [
        "Recommends an appropriate dose of 10 mg/kg amoxicillin.",
        "Names well-known triggers such as pollen.",
        "Mentions pollen as well as dust as triggers.",
    ],
)
def test_vague_words_with_a_measure_or_in_idioms_pass(description: str) -> None:
    assert lint(with_item(3, description=description)) == []


def test_blank_text_is_an_error() -> None:
    findings = lint(with_item(2, title="  ", description=""))
    assert rules(findings) == [("text:empty", 2)]
    assert "no title and no description" in findings[0].message


def test_findings_are_ordered_rubric_level_first() -> None:
    items = with_item(6, title="Avoids Trachoma", description="Does not select trachoma.")[1:]
    found = lint(items)
    assert [f.index for f in found] == sorted(
        (f.index for f in found), key=lambda i: -1 if i is None else i
    )
    assert found[0].rule == "count:range"


def _rar_rows(path: Path) -> list[tuple[str, list[CriterionData]]]:
    out = []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        items = []
        for item, prefixed in zip(row["rubric"], row["rubric_list"], strict=True):
            category, _ = split_prefix(prefixed)
            assert category is not None
            items.append(
                CriterionData(item["title"], item["description"], category, item["weight"])
            )
        out.append((row["uid"], items))
    return out


def test_real_rar_rows(rar_sample: Path) -> None:
    """What fires on the three real RaR-Medicine rows: every pitfall is worded
    'Does not ...' with a negative weight; only those that read as avoiding a
    mistake (good when met) fire, not omissions like 'Does not mention X' (bad
    when met); nothing else fires (weights follow RaR's scale, wording is specific)."""
    found = {uid: rules(lint(items)) for uid, items in _rar_rows(rar_sample)}
    assert found == {
        # "Avoids Trachoma Misidentification" / "Does not mention or suggest (A) Trachoma
        # without clear differentiation": the title reads as an avoidance, the
        # description as an omission; the expert must say which.
        "med-01884518e6c7": [
            ("polarity:avoidance", 8),
            ("polarity:title_description_disagree", 8),
        ],
        # "Does not misinterpret the cystic mass as a tumor": an avoidance, -1.
        "med-02a8056b1d15": [("polarity:avoidance", 8)],
        # "Does not mention ..." (-2) and "Does not explain ..." (-1): omissions, bad when
        # met, right as written.
        "med-0cb2de59edaa": [],
    }


@pytest.mark.parametrize(
    "description, weight, expected",
    [
        ("Does not mention renal dosing.", -2, []),  # omission: bad when met, right
        ("Fails to explain the mechanism.", -1, []),
        ("Omits the dose.", -1, []),
        ("Avoids recommending codeine.", -2, ["polarity:avoidance"]),
        ("Does not misread the ECG as ischaemia.", -1, ["polarity:avoidance"]),
        ("Does not recommend antibiotics.", -1, ["polarity:avoidance"]),  # reads both ways
        ("Does not mention renal dosing.", 3, ["polarity:omission_rewarded"]),
        ("Avoids recommending codeine.", 2, []),  # avoidance: good when met, right
        ("Recommends codeine for a child.", -2, []),
    ],
)
def test_avoidance_and_omission_are_told_apart(
    description: str, weight: float, expected: list[str]
) -> None:
    category = PIT if weight < 0 else OPT
    c = CriterionData(description.rstrip("."), description, category, weight)  # title agrees
    assert [f.rule for f in lint([c]) if f.rule.startswith("polarity")] == expected


def test_each_polarity_finding_offers_one_fix_that_keeps_the_sign() -> None:
    avoid = lint(with_item(6, title="Codeine", description="Avoids recommending codeine."))
    (msg,) = [f.message for f in avoid if f.rule == "polarity:avoidance"]
    assert "keep the negative weight" in msg and "positive" not in msg
    gap = lint(with_item(0, description="Does not mention the dose."))
    (msg,) = [f.message for f in gap if f.rule == "polarity:omission_rewarded"]
    assert "keep the positive weight" in msg and "negative" not in msg
    for f in avoid + gap:
        assert "polarity:" not in f.message, "messages are plain words, not rule codes"


def test_polarity_is_carried_by_the_sign() -> None:
    assert CriterionData("a", "b", PIT, -1).polarity == "bad when met"
    assert CriterionData("a", "b", OPT, 1).polarity == "good when met"
