"""Self-preference: model families, and each judge's false-positive rate on its own
family's responses vs other families', counted by hand."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.agreement.queries import AgreementFilters
from rubricforge.models.agreement.self_preference import self_preference, wilson
from rubricforge.models.data.importer import import_file
from rubricforge.models.judging.orm import JudgeMode, Response
from rubricforge.models.judging.responses import import_responses
from rubricforge.models.llm.family import model_family, same_family
from rubricforge.models.rubrics.orm import Prompt
from self_preference_support import GPT, build
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

pytestmark = pytest.mark.db


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("gpt-4o-mini-2024-07-18", "gpt-4o"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("openai/gpt-4o", "gpt-4o"),
        ("gpt-4.1-nano", "gpt-4.1"),
        ("gpt-3.5-turbo-0125", "gpt-3.5"),
        ("Qwen/Qwen2.5-7B", "qwen2.5"),
        ("qwen2.5-72b-instruct-awq", "qwen2.5"),
        ("Qwen/Qwen3-30B-A3B", "qwen3"),
        ("meta-llama/Llama-3.1-8B-Instruct", "llama-3.1"),
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", "mixtral"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("gemini-1.5-flash-002", "gemini-1.5"),
        ("o3-mini", "o3"),
        ("unknown", None),
        ("human", None),
        ("", None),
        ("degraded:truncated", None),
    ],
)
def test_model_family(name: str, family: str | None) -> None:
    assert model_family(name) == family


def test_same_family_needs_two_known_models() -> None:
    assert same_family("gpt-4o-mini", "gpt-4o-2024-08-06")
    assert not same_family("gpt-4o-mini", "qwen2.5-7b")
    assert not same_family("unknown", "unknown")


def test_wilson_matches_the_formula() -> None:
    z = 1.959963984540054
    for errors, n in [(2, 3), (1, 4), (0, 5), (7, 7)]:
        p = errors / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        rate = wilson(errors, n)
        assert rate.value == pytest.approx(p)
        assert (rate.low, rate.high) == pytest.approx((centre - half, centre + half), abs=1e-9)
    assert math.isnan(wilson(0, 0).value)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as s:
        yield s


def test_false_positive_rates_on_own_and_other_families(session: Session) -> None:
    """Hand counts in `self_preference_support.build`."""
    w = build(session)
    gpt = GPT
    rows = {(r.judge_model, r.judge_mode): r for r in self_preference(session)}
    assert set(rows) == {(gpt, JudgeMode.explicit), ("qwen2.5-72b-instruct", JudgeMode.explicit)}
    g = rows[gpt, JudgeMode.explicit]
    assert g.family == "gpt-4o"
    assert (g.own.errors, g.own.n, g.other.errors, g.other.n) == (2, 3, 1, 4)
    assert g.unknown_author == 1
    assert g.ratio == pytest.approx(8 / 3)
    assert (g.own.low, g.own.high) == pytest.approx((wilson(2, 3).low, wilson(2, 3).high))
    assert g.summary() == "own 0.67 vs other 0.25 (x2.67)"
    q = rows["qwen2.5-72b-instruct", JudgeMode.explicit]
    assert (q.family, q.own.errors, q.own.n, q.other.errors, q.other.n) == ("qwen2.5", 1, 2, 0, 2)
    assert q.ratio is None and q.summary() == "own 0.50 vs other 0.00"
    # Filters are the dashboard's: another dataset has no labels.
    w.dataset("other")
    assert (
        self_preference(session, filters=AgreementFilters(dataset_ids=(w.datasets["other"],))) == []
    )


def test_imported_responses_record_their_author(
    engine: Engine, rar_sample: Path, tmp_path: Path
) -> None:
    import_file(engine, rar_sample, "med", actor=OPERATOR)
    with engine.connect() as conn:
        uid = conn.execute(select(Prompt.external_id).limit(1)).scalar_one()
    lines = [
        {"prompt_id": uid, "text": "one", "model": "gpt-4o-mini"},
        {"prompt_id": uid, "text": "two", "source": "run-7", "author_model": "Qwen/Qwen2.5-7B"},
        {"prompt_id": uid, "text": "three", "source": "someone"},
    ]
    path = tmp_path / "responses.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")
    import_responses(engine, path, "med", actor=OPERATOR)
    with engine.connect() as conn:
        stored = dict(conn.execute(select(Response.text, Response.author_model)).all())
    assert stored == {"one": "gpt-4o-mini", "two": "Qwen/Qwen2.5-7B", "three": "unknown"}
