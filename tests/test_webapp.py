"""The app as a user sees it (AppTest on the real entry file, against a database
loaded with the demo), and the read-only query services its pages call."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from rubricforge.models import Dataset, Prompt
from rubricforge.models.core.errors import NotFoundError, RubricforgeError
from rubricforge.models.demo.loader import load_demo
from rubricforge.models.rubrics.browse import (
    NO_RUBRIC,
    dataset_overview,
    list_prompts,
)
from rubricforge.models.rubrics.criteria import POLARITY_AVOIDANCE, flag_text
from rubricforge.models.rubrics.detail import rubric_detail
from rubricforge.models.rubrics.orm import RubricStatus
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest
from webapp_support import add_account, app_as, user_id

pytestmark = pytest.mark.db

APP = Path(__file__).resolve().parent.parent / "webapp" / "app.py"
STATUS_COLUMNS = ["Draft", "In review", "Approved", "Rejected", "Retired"]
VIEWER = "viewer"  # the pages below need a signed-in user; a researcher only reads


@pytest.fixture
def demo_engine(engine: Engine) -> Engine:
    load_demo(engine)
    return engine


@pytest.fixture
def app_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """DATABASE_URL for the app under test, with a signed-in read-only account;
    the engine cache is cleared around each test."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    st.cache_resource.clear()
    add_account(db_url, VIEWER, "researcher")
    yield db_url
    st.cache_resource.clear()


@pytest.fixture
def demo_db(app_db: str) -> str:
    eng = create_engine(app_db)
    load_demo(eng)
    eng.dispose()
    return app_db


def run_app(page: str | None = None) -> AppTest:
    return app_as(user_id(os.environ["DATABASE_URL"], VIEWER), page)


def prompt_ids(at: AppTest) -> list[str]:
    return list(at.dataframe[0].value["ID"])


def widget(at: AppTest, kind: str, label: str) -> Any:  # AppTest widget classes vary by kind
    return next(w for w in getattr(at, kind) if w.label == label)


def choose(at: AppTest, label: str, value: object) -> AppTest:
    widget(at, "selectbox", label).set_value(value)
    at.run()
    assert not at.exception, at.exception
    return at


def prompt_id(url: str, external_id: str) -> int:
    eng = create_engine(url)
    with Session(eng) as s:
        pid = s.scalars(select(Prompt.id).where(Prompt.external_id == external_id)).one()
    eng.dispose()
    return pid


# --- The app -----------------------------------------------------------------


def test_overview_shows_what_each_dataset_holds(demo_db: str) -> None:
    at = run_app()
    assert at.title[0].value == "Overview"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {
        "Prompts": "14",
        "Approved rubrics": "4",
        "Criteria": "103",
        "Flagged criteria": "4",
    }
    table = at.dataframe[0].value.set_index("Dataset")
    medicine = table.loc["demo-medicine"]
    assert medicine["Prompts"] == 7 and medicine["No rubric"] == 1
    assert [medicine[c] for c in STATUS_COLUMNS] == [1, 1, 2, 1, 1]
    assert (medicine["Criteria"], medicine["Flagged"]) == (53, 2)
    assert table.loc["demo-chemistry", "Criteria"] == 50


def test_overview_of_an_empty_database_says_how_to_start(app_db: str) -> None:
    at = run_app()
    assert "rubricforge demo" in at.info[0].value
    assert "Data page" in at.info[0].value and "rubricforge import" in at.info[0].value
    assert not at.dataframe


def test_unreachable_database_is_a_message_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:9/nowhere")
    st.cache_resource.clear()
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    st.cache_resource.clear()
    assert not at.exception
    assert "Cannot reach the database" in at.error[0].value


def test_prompt_filters_narrow_the_table(demo_db: str) -> None:
    at = run_app("views/prompts.py")
    assert at.title[0].value == "Prompts"
    assert len(prompt_ids(at)) == 14
    assert at.caption[0].value == "Prompts 1–14 of 14"
    choose(at, "Dataset", "demo-chemistry")
    assert prompt_ids(at) == [f"chem-00{i}" for i in range(1, 8)]
    choose(at, "Rubric status", "approved")
    assert prompt_ids(at) == ["chem-001", "chem-002"]
    choose(at, "Dataset", "All")
    choose(at, "Rubric status", NO_RUBRIC)
    assert prompt_ids(at) == ["med-007", "chem-007"]
    choose(at, "Rubric status", "All")
    widget(at, "text_input", "Search").input("TYMPANIC").run()
    assert prompt_ids(at) == ["med-003"]
    widget(at, "text_input", "Search").input("nothing like this").run()
    assert prompt_ids(at) == []
    assert at.caption[0].value == "Prompts 0–0 of 0"


def test_pagination_walks_the_pages(demo_db: str) -> None:
    at = run_app("views/prompts.py")
    choose(at, "Per page", 10)
    first = prompt_ids(at)
    assert len(first) == 10 and at.caption[0].value == "Prompts 1–10 of 14"
    page = widget(at, "number_input", "Page")
    assert page.max == 2
    page.set_value(2).run()
    second = prompt_ids(at)
    assert len(second) == 4 and at.caption[0].value == "Prompts 11–14 of 14"
    assert not set(first) & set(second)
    # A new filter starts again at page 1.
    choose(at, "Dataset", "demo-medicine")
    assert widget(at, "number_input", "Page").value == 1
    assert len(prompt_ids(at)) == 7


def test_opening_a_prompt_shows_question_answer_and_flagged_criteria(demo_db: str) -> None:
    at = run_app("views/prompts.py")
    choose(at, "Open a prompt", prompt_id(demo_db, "med-003"))
    texts = [t.value for t in at.text]
    assert any(t.startswith("A 3-year-old girl has had ear pain") for t in texts)
    assert any(t.startswith("This is acute otitis media") for t in texts)
    assert at.subheader[0].value == "demo-medicine / med-003"
    assert "Rubric: In review" in [c.value for c in at.caption]
    criteria = at.dataframe[1].value
    assert len(criteria) == 9
    assert set(criteria["Category"]) == {"Essential", "Important", "Optional", "Pitfall"}
    codeine = criteria[criteria["Title"] == "Avoids codeine"].iloc[0]
    assert codeine["Weight"] == -2 and flag_text(POLARITY_AVOIDANCE) in codeine["Flags"]
    assert (criteria["Flags"] != "").sum() == 1
    assert "1 flagged criterion." in at.warning[0].value


def test_older_versions_can_be_read(demo_db: str) -> None:
    at = run_app("views/prompts.py")
    choose(at, "Open a prompt", prompt_id(demo_db, "chem-001"))
    criteria = at.dataframe[1].value
    assert len(criteria) == 9 and "Claims Ksp changes" in set(criteria["Title"])
    assert not at.warning
    history, reviews = at.dataframe[2].value, at.dataframe[3].value
    assert list(history["Source"]) == ["import", "human"]
    assert list(history["Author"]) == ["expert2", "expert2"]
    assert list(reviews["Action"]) == ["submit", "reject", "submit", "approve"]
    assert "negative weight" in reviews["Comment"][1]
    choose(at, "Version", 1)
    criteria = at.dataframe[1].value
    assert len(criteria) == 8
    assert "Avoids claiming Ksp changes" in set(criteria["Title"])
    assert "1 flagged criterion." in at.warning[0].value


def test_user_text_is_shown_as_text_never_as_html(app_db: str) -> None:
    evil = "<script>alert(1)</script> **not bold** <img src=x onerror=alert(2)>"
    eng = create_engine(app_db)
    with Session(eng) as s, s.begin():
        ds = Dataset(name="evil")
        s.add(ds)
        s.flush()
        s.add(Prompt(dataset_id=ds.id, external_id="x-1", question=evil, reference_answer=evil))
    eng.dispose()
    at = run_app("views/prompts.py")
    choose(at, "Open a prompt", prompt_id(app_db, "x-1"))
    assert [t.value for t in at.text] == [evil, evil]
    assert not any("<script>" in m.value for m in at.markdown)
    assert "This prompt has no rubric yet." in at.info[0].value


# --- The query services --------------------------------------------------------


def test_dataset_overview_counts(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        rows = {r.dataset: r for r in dataset_overview(s)}
    chem = rows["demo-chemistry"]
    assert (chem.prompts, chem.without_rubric, chem.criteria, chem.flagged) == (7, 1, 50, 2)
    assert chem.by_status == {"draft": 1, "in_review": 1, "approved": 2, "rejected": 1,
                              "retired": 1}  # fmt: skip


def test_dataset_overview_lists_an_empty_dataset(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        s.add(Dataset(name="empty"))
    with Session(engine) as s:
        (row,) = dataset_overview(s)
    assert (row.dataset, row.prompts, row.criteria) == ("empty", 0, 0)
    assert set(row.by_status.values()) == {0}


def test_list_prompts_filters(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        approved = list_prompts(s, status=RubricStatus.approved)
        assert [p.external_id for p in approved.items] == ["med-001", "med-002", "chem-001",
                                                           "chem-002"]  # fmt: skip
        assert list_prompts(s, status="in_review", dataset="demo-medicine").total == 1
        assert list_prompts(s, status=NO_RUBRIC).total == 2
        assert list_prompts(s, text="MED-00").total == 7
        # Search text is literal: "_" and "%" are not wildcards.
        assert list_prompts(s, text="_").total == 0
        # "%" is text, not a wildcard: in two questions, and (the search
        # reads them too) in chem-004's and med-006's reference answers or criteria.
        assert {p.external_id for p in list_prompts(s, text="%").items} == {
            "med-001", "med-005", "chem-004", "med-006",
        }  # fmt: skip
        row = list_prompts(s, text="chem-001").items[0]
    assert (row.status, row.version, row.criteria, row.flagged) == ("approved", 2, 9, 0)
    assert row.dataset == "demo-chemistry" and row.tags == ["equilibrium", "solubility"]


def test_list_prompts_pages_cover_everything_once(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        pages = [list_prompts(s, limit=5, offset=o) for o in (0, 5, 10)]
    assert [p.number for p in pages] == [1, 2, 3]
    assert {p.pages for p in pages} == {3} and {p.total for p in pages} == {14}
    ids = [row.id for p in pages for row in p.items]
    assert len(ids) == 14 == len(set(ids))


def test_list_prompts_runs_a_fixed_number_of_statements(demo_engine: Engine) -> None:
    statements: list[str] = []
    event.listen(demo_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with Session(demo_engine) as s:
        list_prompts(s, limit=50)
        assert len(statements) == 2  # COUNT, then the page: no query per row
        statements.clear()
        list_prompts(s, dataset="demo-medicine", limit=50)
        assert len(statements) == 3  # plus the dataset lookup


def test_list_prompts_refuses_bad_input(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        with pytest.raises(RubricforgeError, match="Page size must be between 1 and 500"):
            list_prompts(s, limit=0)
        with pytest.raises(RubricforgeError, match="Offset must be 0 or more"):
            list_prompts(s, offset=-1)
        with pytest.raises(RubricforgeError, match="Unknown status 'aproved'; use one of"):
            list_prompts(s, status="aproved")
        with pytest.raises(NotFoundError, match="No dataset named 'demo-medcine'"):
            list_prompts(s, dataset="demo-medcine")


def test_rubric_detail(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        pid = s.scalars(select(Prompt.id).where(Prompt.external_id == "chem-001")).one()
        head = rubric_detail(s, pid)
        first = rubric_detail(s, pid, version=1)
    assert (head.status, head.head_version, head.approved_version, head.shown_version) == (
        "approved", 2, 2, 2,
    )  # fmt: skip
    assert [(v.number, v.source, v.author) for v in head.versions] == [
        (1, "import", "expert2"),
        (2, "human", "expert2"),
    ]
    assert head.versions[1].note.startswith("Criterion 8 was written as an avoidance")
    assert [(r.action, r.version) for r in head.reviews] == [
        ("submit", 1), ("reject", 1), ("submit", 2), ("approve", 2),
    ]  # fmt: skip
    assert "negative weight" in head.reviews[1].comment
    assert len(head.criteria) == 9 and len(first.criteria) == 8
    assert first.shown_version == 1 and first.criteria[7].flags == [POLARITY_AVOIDANCE]
    # The same criterion, reworded, keeps its key across versions.
    assert first.criteria[7].key == head.criteria[7].key
    assert [c.position for c in head.criteria] == list(range(9))


def test_rubric_detail_of_a_prompt_without_rubric_and_bad_ids(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        pid = s.scalars(select(Prompt.id).where(Prompt.external_id == "med-007")).one()
        bare = rubric_detail(s, pid)
        assert (bare.status, bare.criteria, bare.versions, bare.head_version) == (
            None,
            [],
            [],
            None,
        )
        assert bare.question.startswith("A 45-year-old office worker")
        with pytest.raises(NotFoundError, match="No prompt with id 999999"):
            rubric_detail(s, 999999)
        chem = s.scalars(select(Prompt.id).where(Prompt.external_id == "chem-001")).one()
        with pytest.raises(NotFoundError, match="has no version 3 \\(it has versions 1-2\\)"):
            rubric_detail(s, chem, version=3)
