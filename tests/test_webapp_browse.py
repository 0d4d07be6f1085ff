"""The prompt browser's filters, counts and assignment, and the history page's
version list, diff and review log (AppTest on the real app, demo workspace)."""

from __future__ import annotations

import pytest
from rubricforge.models.accounts.orm import User
from rubricforge.models.core.audit import AuditEntry
from rubricforge.models.demo.loader import load_demo
from rubricforge.models.rubrics.browse import (
    NO_RUBRIC,
    UNASSIGNED,
    list_prompts,
    status_counts,
    tag_names,
)
from rubricforge.models.rubrics.orm import Prompt
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest
from webapp_support import app_as, click, has, prompt_id, shown, user_id, values, widget

pytestmark = pytest.mark.db


def ids(at: AppTest) -> list[str]:
    return list(at.dataframe[0].value["ID"])


def choose(at: AppTest, label: str, value: object) -> AppTest:
    widget(at, "selectbox", label).set_value(value)
    at.run()
    assert not at.exception, at.exception
    return at


def counts(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def assignees(url: str) -> dict[str, str | None]:
    eng = create_engine(url)
    with Session(eng) as s:
        rows = s.execute(
            select(Prompt.external_id, User.username).outerjoin(User, User.id == Prompt.assignee_id)
        ).all()
    eng.dispose()
    return dict(rows)  # type: ignore[arg-type]


def test_filters_and_counts_per_status(demo_app_db: str) -> None:
    at = app_as(user_id(demo_app_db, "expert1"), "views/prompts.py")
    assert counts(at) == {"Draft": "2", "In review": "2", "Approved": "4", "Rejected": "2",
                          "Retired": "2", "No rubric": "2"}  # fmt: skip
    choose(at, "Tag", "primary-care")
    assert ids(at) == ["med-001", "med-002", "med-005"]
    assert counts(at)["Approved"] == "2" and counts(at)["Rejected"] == "1"
    choose(at, "Tag", "All")
    choose(at, "Assignee", "expert2")
    assert ids(at) == [f"chem-00{i}" for i in range(1, 8)]
    choose(at, "Assignee", UNASSIGNED)
    assert ids(at) == []
    assert at.caption[0].value == "Prompts 0–0 of 0"


def test_an_expert_assigns_prompts(demo_app_db: str) -> None:
    at = app_as(user_id(demo_app_db, "expert1"), "views/prompts.py")
    choose(at, "Dataset", "demo-medicine")
    med = {p: prompt_id(demo_app_db, p) for p in ("med-003", "med-007")}
    widget(at, "multiselect", "Prompts to assign").set_value(list(med.values()))
    choose(at, "Assign to", "expert2")
    click(at, "Assign")
    assert shown(at, "success", "Assigned 2 prompt(s) to expert2 (0 already were).")
    owners = assignees(demo_app_db)
    assert (owners["med-003"], owners["med-007"], owners["med-001"]) == ("expert2", "expert2",
                                                                         "expert1")  # fmt: skip
    assert list(at.dataframe[0].value["Assignee"])[2] == "expert2"
    # A whole page at once, back to nobody.
    widget(at, "checkbox", "All 7 prompts on this page").check()
    choose(at, "Assign to", "Nobody (unassign)")
    click(at, "Assign")
    assert shown(at, "success", "Assigned 7 prompt(s) to nobody")
    assert {assignees(demo_app_db)[f"med-00{i}"] for i in range(1, 8)} == {None}
    eng = create_engine(demo_app_db)
    with Session(eng) as s:
        logged = s.scalars(select(AuditEntry.actor).where(AuditEntry.action == "prompt.assign"))
        assert set(logged) == {"expert1"}
    eng.dispose()


def test_readers_cannot_assign(demo_app_db: str) -> None:
    at = app_as(user_id(demo_app_db, "annotator1"), "views/prompts.py")
    assert not has(at, "button", "Assign") and not has(at, "multiselect", "Prompts to assign")
    # An expert or admin only is offered as an assignee filter and target.
    assert widget(at, "selectbox", "Assignee").options == ["All", UNASSIGNED, "admin", "expert1",
                                                           "expert2"]  # fmt: skip


def test_opening_a_prompt_leads_to_the_editor_and_the_history(demo_app_db: str) -> None:
    at = app_as(user_id(demo_app_db, "expert2"), "views/prompts.py")
    pid = prompt_id(demo_app_db, "chem-001")
    choose(at, "Open a prompt", pid)
    click(at, "Edit rubric")
    assert at.title[0].value == "Rubric editor" and at.query_params["prompt"] == str(pid)
    assert at.subheader[0].value == "demo-chemistry / chem-001"
    at.switch_page("views/prompts.py").run()
    choose(at, "Open a prompt", pid)
    click(at, "Version history")
    assert at.title[0].value == "Version history"


def test_history_lists_versions_and_diffs_any_two(demo_app_db: str) -> None:
    pid = prompt_id(demo_app_db, "chem-001")
    at = app_as(user_id(demo_app_db, "annotator1"), "views/history.py", {"prompt": str(pid)})
    listing = at.dataframe[0].value
    assert list(listing["Version"]) == [2, 1]
    assert list(listing["Source"]) == ["human", "import"]
    assert list(listing["Approved"]) == ["✓", ""] and list(listing["Current"]) == ["✓", ""]
    assert listing["Note"][0].startswith("Criterion 8 was written as an avoidance")
    # Default: the previous version against the newest.
    assert shown(at, "markdown", "version 1 → version 2:")
    diff = at.dataframe[1].value
    changed = diff[diff["Change"] == "changed"]
    assert set(changed["Criterion"]) == {"Claims Ksp changes"}
    title = changed[changed["Field"] == "title"].iloc[0]
    assert (title["Before"], title["After"]) == (
        "Avoids claiming Ksp changes",
        "Claims Ksp changes",
    )
    assert list(diff["Change"]).count("added") == 1
    # Any two, either way round.
    choose(at, "From version", 2)
    choose(at, "To version", 1)
    diff = at.dataframe[1].value
    assert list(diff["Change"]).count("removed") == 1
    assert shown(at, "markdown", "version 2 → version 1:")
    log = at.dataframe[2].value
    assert list(log["Action"]) == ["approve", "submit", "reject", "submit"]
    assert "negative weight" in log["Comment"][2]


def test_history_page_restores_a_version_for_an_expert_only(demo_app_db: str) -> None:
    pid = prompt_id(demo_app_db, "chem-001")
    reader = app_as(user_id(demo_app_db, "annotator1"), "views/history.py", {"prompt": str(pid)})
    assert not [b for b in reader.button if b.label == "Restore this version"]

    at = app_as(user_id(demo_app_db, "expert1"), "views/history.py", {"prompt": str(pid)})
    assert widget(at, "selectbox", "Version to restore").value == 1
    widget(at, "text_input", "Why (optional)").input("back to the reviewed wording")
    click(at, "Restore this version")
    assert shown(at, "success", "Restored version 1 as version 3.")
    listing = at.dataframe[0].value
    assert list(listing["Version"]) == [3, 2, 1]
    assert list(listing["Current"]) == ["✓", "", ""]
    assert listing["Note"][0] == "restored version 1: back to the reviewed wording"
    assert list(listing["Approved"]) == ["", "✓", ""]  # the approval stays on record


def test_history_of_a_prompt_without_rubric(demo_app_db: str) -> None:
    pid = prompt_id(demo_app_db, "med-007")
    at = app_as(user_id(demo_app_db, "expert1"), "views/history.py", {"prompt": str(pid)})
    assert values(at, "info") == ["This prompt has no rubric yet, so there is no history."]


def test_assignee_and_tag_queries(engine: Engine) -> None:
    load_demo(engine)
    with Session(engine) as s:
        assert list_prompts(s, assignee="expert1").total == 7
        assert list_prompts(s, assignee="EXPERT1", status="approved").total == 2
        assert list_prompts(s, assignee="nobody-like-this").total == 0
        assert list_prompts(s, assignee=UNASSIGNED).total == 0
        assert [p.external_id for p in list_prompts(s, tag="nephrology").items] == [
            "med-004",
            "med-006",
        ]
        assert list_prompts(s, tag="nephrology").items[0].assignee == "expert1"
        assert status_counts(s, dataset="demo-chemistry") == {
            "draft": 1, "in_review": 1, "approved": 2, "rejected": 1, "retired": 1, NO_RUBRIC: 1,
        }  # fmt: skip
        assert status_counts(s, tag="cardiology") == {
            "draft": 0, "in_review": 0, "approved": 0, "rejected": 1, "retired": 0, NO_RUBRIC: 1,
        }  # fmt: skip
        tags = tag_names(s)
    assert tags == sorted(tags) and {"nephrology", "organic", "redox"} <= set(tags)
    assert len(tags) == len(set(tags))
