"""Searching prompts at volume: the search reads reference answers and
the current rubric's criteria, not only the question and id; every flag count
(import summary, Prompts, Overview) is one definition; stored flags from older
rules are recomputed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.core.db import session_scope
from rubricforge.models.core.errors import InvalidInputError
from rubricforge.models.core.limits import MAX_SEARCH
from rubricforge.models.data.importer import import_file
from rubricforge.models.rubrics.authoring import load_editor_state, save_version
from rubricforge.models.rubrics.browse import dataset_overview, list_prompts, status_counts
from rubricforge.models.rubrics.criteria import POLARITY_AVOIDANCE, is_flagged
from rubricforge.models.rubrics.flags import refresh_flags
from rubricforge.models.rubrics.orm import Criterion, Prompt
from rubricforge.models.rubrics.workflow import submit_for_review
from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session

pytestmark = pytest.mark.db

ROWS = [
    {
        "uid": "ent-1",
        "question": "A child has fever, drooling and neck stiffness. Next step?",
        "reference_answer": "Suspect a Retropharyngeal abscess and image the neck.",
        "rubric": [
            {"title": "Names the abscess", "description": "Names a deep neck abscess.",
             "weight": 5},
            {"title": "Orders imaging", "description": "Orders a lateral neck film.", "weight": 3},
        ],
    },
    {
        "uid": "ent-2",
        "question": "Adult with sore throat and trismus. Diagnosis?",
        "reference_answer": "Peritonsillar abscess.",
        "rubric": [
            {"title": "Mentions trismus", "description": "Links trismus to quinsy.", "weight": 5},
            {"title": "Avoids antibiotics alone",
             "description": "Avoids relying on antibiotics alone.", "weight": -2},
        ],
    },
]  # fmt: skip


def imported(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "ent.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    result = import_file(engine, path, "ent", actor=OPERATOR)
    assert result.prompts_added == 2
    # The import summary counts what Prompts and Overview count.
    assert result.pitfalls_flagged == 1


def found(engine: Engine, needle: str) -> list[str]:
    with Session(engine) as s:
        return [p.external_id for p in list_prompts(s, text=needle).items]


def test_search_reads_reference_answers_and_criteria(engine: Engine, tmp_path: Path) -> None:
    imported(engine, tmp_path)
    assert found(engine, "retropharyngeal") == ["ent-1"]  # only in a reference answer
    assert found(engine, "QUINSY") == ["ent-2"]  # only in a criterion's description
    assert found(engine, "lateral neck film") == ["ent-1"]
    assert found(engine, "Orders imaging") == ["ent-1"]  # a criterion's title
    assert found(engine, "abscess") == ["ent-1", "ent-2"]
    assert found(engine, "ent-2") == ["ent-2"]  # the id, as before
    assert found(engine, "pancreatitis") == []
    assert found(engine, "100%_") == []  # LIKE wildcards are text
    with Session(engine) as s:
        assert status_counts(s, text="quinsy")["draft"] == 1


def test_search_reads_the_current_version_only(engine: Engine, tmp_path: Path) -> None:
    imported(engine, tmp_path)
    with session_scope(engine) as s:
        pid = s.scalars(select(Prompt.id).where(Prompt.external_id == "ent-2")).one()
        state = load_editor_state(s, pid)
        from dataclasses import replace

        criteria = [replace(state.criteria[0], description="Links trismus to the abscess.")]
        criteria.append(state.criteria[1])
        save_version(s, OPERATOR, state.rubric_id or 0, criteria,
                     expected_lock_version=state.lock_version or 0, note="")  # fmt: skip
    assert found(engine, "quinsy") == []


def test_search_is_capped_and_refuses_control_characters(engine: Engine) -> None:
    with Session(engine) as s, pytest.raises(InvalidInputError, match="shorten it"):
        list_prompts(s, text="x" * (MAX_SEARCH + 1))
    with Session(engine) as s, pytest.raises(InvalidInputError, match="control character"):
        list_prompts(s, text="abc\x00")


def test_the_search_indexes_exist(engine: Engine) -> None:
    with engine.connect() as conn:
        names = set(conn.scalars(text("SELECT indexname FROM pg_indexes WHERE indexname "
                                      "LIKE '%trgm'")))  # fmt: skip
        assert conn.scalar(text("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'"))
    assert names == {
        "ix_prompts_question_trgm", "ix_prompts_reference_answer_trgm",
        "ix_criteria_title_trgm", "ix_criteria_description_trgm",
    }  # fmt: skip


def test_flag_counts_agree_and_old_readings_are_recomputed(engine: Engine, tmp_path: Path) -> None:
    imported(engine, tmp_path)
    with Session(engine) as s:
        prompts = {p.external_id: p.flagged for p in list_prompts(s).items}
        overview = dataset_overview(s)[0].flagged
    assert prompts == {"ent-1": 0, "ent-2": 1} and overview == 1
    # An earlier import stored an old reading: a flag on a criterion today's rules
    # pass, and none on the one they flag; a kept non-polarity flag stays.
    with session_scope(engine) as s:
        s.execute(update(Criterion).values(flags=[]))
        s.execute(
            update(Criterion)
            .where(Criterion.title == "Orders imaging")
            .values(flags=[POLARITY_AVOIDANCE, "text:nul_replaced"])
        )
    with Session(engine) as s:
        assert {p.external_id: p.flagged for p in list_prompts(s).items} == {
            "ent-1": 1, "ent-2": 0,
        }  # fmt: skip
    with engine.begin() as conn:
        assert refresh_flags(conn) == 2
    with engine.begin() as conn:
        assert refresh_flags(conn) == 0  # idempotent
    with Session(engine) as s:
        assert {p.external_id: p.flagged for p in list_prompts(s).items} == {
            "ent-1": 0, "ent-2": 1,
        }  # fmt: skip
        flags = {t: f for t, f in s.execute(select(Criterion.title, Criterion.flags)).all()}
    assert flags["Orders imaging"] == ["text:nul_replaced"] and not is_flagged(
        flags["Orders imaging"]
    )
    assert flags["Avoids antibiotics alone"] == [POLARITY_AVOIDANCE]


def test_awaiting_my_review(engine: Engine, tmp_path: Path) -> None:
    from rubricforge.models.accounts.auth import add_user
    from rubricforge.models.accounts.permissions import UserInfo

    imported(engine, tmp_path)
    with session_scope(engine) as s:
        a = add_user(s, "expert_a", "expert", "correct horse battery", actor=OPERATOR)
        add_user(s, "expert_b", "expert", "correct horse battery", actor=OPERATOR)
        pid = s.scalars(select(Prompt.id).where(Prompt.external_id == "ent-1")).one()
        state = load_editor_state(s, pid)
        author = UserInfo(a.id, a.username, a.role)
        v = save_version(s, author, state.rubric_id or 0, list(reversed(state.criteria)),
                         expected_lock_version=state.lock_version or 0, note="")  # fmt: skip
        lock = load_editor_state(s, pid).lock_version or 0
        submit_for_review(s, author, state.rubric_id or 0, expected_lock_version=lock)
        assert v.number == 2
    with Session(engine) as s:
        mine = [p.external_id for p in list_prompts(s, awaiting_review_by="expert_b").items]
        theirs = [p.external_id for p in list_prompts(s, awaiting_review_by="expert_a").items]
        counts = status_counts(s, awaiting_review_by="expert_b")
    assert mine == ["ent-1"] and theirs == [] and counts["in_review"] == 1


def test_a_known_count_skips_the_count_and_gives_the_same_page(
    engine: Engine, tmp_path: Path
) -> None:
    """The Prompts page passes the status counts it shows as the listing's total."""
    imported(engine, tmp_path)
    with Session(engine) as s:
        counts = status_counts(s, text="abscess")
        counted = list_prompts(s, text="abscess", status="draft", limit=1)
        given = list_prompts(s, text="abscess", status="draft", limit=1, total=counts["draft"])
        everything = list_prompts(s, text="abscess", total=sum(counts.values()))
    assert counted == given and given.total == 2 and given.pages == 2
    assert [p.external_id for p in everything.items] == ["ent-1", "ent-2"]
