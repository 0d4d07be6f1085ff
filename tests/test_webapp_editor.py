"""The rubric editor as experts and annotators use it (AppTest on the real app,
against the demo workspace): edit, lint, save, stale saves, review workflow."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest
from rubricforge.models.accounts.orm import Role
from rubricforge.models.accounts.permissions import UserInfo
from rubricforge.models.core.db import session_scope
from rubricforge.models.rubrics.authoring import (
    EditorState,
    VersionInfo,
    list_reviews,
    list_versions,
    load_editor_state,
    save_version,
)
from rubricforge.models.rubrics.orm import RubricStatus, VersionSource
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest
from webapp_support import (
    app_as,
    click,
    has,
    prompt_id,
    shown,
    user_id,
    values,
    widget,
)

pytestmark = pytest.mark.db
UNESCAPED = re.compile(r"(?<!\\)[<\[]")


def editor(url: str, username: str, external_id: str) -> AppTest:
    pid = prompt_id(url, external_id)
    return app_as(user_id(url, username), "views/editor.py", {"prompt": str(pid)})


def edit(at: AppTest, **changes: Any) -> AppTest:
    """Do what the expert does in the table: `changes` is st.data_editor's edit state."""
    state = {"edited_rows": {}, "added_rows": [], "deleted_rows": []} | changes
    at.session_state[at.data_editor[0].key] = state
    at.run()
    assert not at.exception, at.exception
    return at


def saved(url: str, external_id: str) -> tuple[EditorState, list[VersionInfo]]:
    eng = create_engine(url)
    with Session(eng) as s:
        state = load_editor_state(s, prompt_id(url, external_id))
        versions = list_versions(s, state.rubric_id) if state.rubric_id else []
    eng.dispose()
    return state, versions


def table_rows(at: AppTest) -> list[str]:
    return list(at.data_editor[0].value["title"])


def test_expert_edits_a_weight_and_saves_a_new_version(demo_app_db: str) -> None:
    at = editor(demo_app_db, "expert1", "med-004")
    state, _ = saved(demo_app_db, "med-004")
    assert at.subheader[0].value == "demo-medicine / med-004"
    assert values(at, "text")[:2] == [state.question, state.reference_answer]
    assert table_rows(at)[3] == "Monitors kidney function"
    assert widget(at, "button", "Save version").disabled  # nothing to save yet
    edit(at, edited_rows={3: {"weight": 4}})
    assert widget(at, "button", "Save version").disabled is False
    # The unsaved change is shown as a diff before anything is written.
    diff = at.dataframe[-1].value
    assert diff.to_dict("records") == [
        {"Change": "changed", "Criterion": "Monitors kidney function", "Field": "weight",
         "Before": "3", "After": "4"}
    ]  # fmt: skip
    widget(at, "text_input", "Note for this version").input("eGFR monitoring matters more")
    click(at, "Save version")
    assert shown(at, "success", "Saved version 2.")
    state, versions = saved(demo_app_db, "med-004")
    assert (state.head_version_number, state.status) == (2, RubricStatus.draft)
    head = versions[0]
    assert (head.source, head.created_by, head.note) == (
        VersionSource.human,
        "expert1",
        "eGFR monitoring matters more",
    )
    assert [c.weight for c in head.criteria][3] == 4
    assert [c.key for c in head.criteria] == [c.key for c in versions[1].criteria]
    # The table starts again from the saved version, with nothing unsaved.
    assert widget(at, "button", "Save version").disabled
    assert widget(at, "text_input", "Note for this version").value == ""
    assert list(at.data_editor[0].value["weight"])[3] == 4


def test_the_lint_panel_follows_the_edits(demo_app_db: str) -> None:
    at = editor(demo_app_db, "expert1", "med-004")
    before = at.dataframe[1].value
    assert shown(at, "error", "Lint: 1 error(s), 1 warning(s)")
    # Row 1 as a Pitfall with a positive weight: a sign error the lint names with its row.
    edit(at, edited_rows={0: {"category": "Pitfall"}})
    findings = at.dataframe[1].value
    assert len(findings) == len(before) + 1
    sign = findings[findings["Finding"].str.contains("a Pitfall needs a negative weight")].iloc[0]
    assert sign["Row"] == "1"
    assert sign["Severity"] == "error"
    # Deleting rows below 7 is a rubric-level error.
    edit(at, deleted_rows=[5, 6])
    findings = at.dataframe[1].value
    count = findings[findings["Finding"].str.contains("6 criteria")].iloc[0]
    assert count["Row"] == "rubric"
    assert "Rule" not in findings.columns, "findings are shown in words, not rule codes"


def test_bad_rows_are_listed_and_nothing_is_saved(demo_app_db: str) -> None:
    at = editor(demo_app_db, "expert1", "med-004")
    edit(
        at,
        edited_rows={1: {"title": "  "}},
        added_rows=[{"title": "Mentions lactate", "category": "Essentiel", "weight": "five"}],
    )
    (error,) = [e for e in values(at, "error") if "problem(s) in the table" in e]
    error = error.replace("\\", "")
    assert "row 2: title is blank" in error
    assert "new row 1: description is blank" in error
    assert (
        "category 'Essentiel' is not one of" in error and "weight 'five' is not a number" in error
    )
    assert widget(at, "button", "Save version").disabled
    assert saved(demo_app_db, "med-004")[0].head_version_number == 1


def test_a_stale_save_keeps_the_edits_and_offers_a_merge(demo_app_db: str) -> None:
    at = editor(demo_app_db, "expert1", "med-004")
    edit(at, edited_rows={3: {"weight": 4}})
    mine = at.session_state[at.data_editor[0].key]
    # Meanwhile the admin saves another change to the same rubric.
    state, versions = saved(demo_app_db, "med-004")
    theirs = list(versions[0].criteria)
    theirs[0] = replace(theirs[0], title="Halves metformin dose")
    eng = create_engine(demo_app_db)
    admin = UserInfo(user_id(demo_app_db, "admin"), "admin", Role.admin)
    with session_scope(eng) as s:
        save_version(s, admin, state.rubric_id or 0, theirs, note="admin fix",
                     expected_lock_version=state.lock_version or 0)  # fmt: skip
    eng.dispose()

    widget(at, "text_input", "Note for this version").input("mine")
    click(at, "Save version")
    assert shown(at, "error", "was changed by admin")
    assert shown(at, "error", "Nothing was saved")
    assert shown(at, "warning", "Your edits are still in the table")
    assert saved(demo_app_db, "med-004")[0].head_version_number == 2
    # The expert's edits are still there, on the same table.
    assert at.session_state[at.data_editor[0].key] == mine
    diff = at.dataframe[-1].value.to_dict("records")
    assert {"Change": "changed", "Criterion": "Reduces metformin dose", "Field": "title",
            "Before": "Halves metformin dose",
            "After": "Reduces metformin dose"} in diff  # fmt: skip
    assert {"Change": "changed", "Criterion": "Monitors kidney function", "Field": "weight",
            "Before": "3", "After": "4"} in diff  # fmt: skip

    click(at, "Keep my edits on top of the latest")
    assert table_rows(at)[0] == "Reduces metformin dose"
    # Merge by hand: take the admin's title, keep my weight.
    edit(at, edited_rows={0: {"title": "Halves metformin dose"}})
    click(at, "Save version")
    assert shown(at, "success", "Saved version 3.")
    head = saved(demo_app_db, "med-004")[1][0]
    assert head.source is VersionSource.merge
    assert head.criteria[0].title == "Halves metformin dose" and head.criteria[3].weight == 4


def test_reload_after_a_stale_save_shows_the_latest(demo_app_db: str) -> None:
    at = editor(demo_app_db, "expert1", "med-004")
    edit(at, edited_rows={3: {"weight": 4}})
    state, versions = saved(demo_app_db, "med-004")
    eng = create_engine(demo_app_db)
    expert2 = UserInfo(user_id(demo_app_db, "expert2"), "expert2", Role.expert)
    with session_scope(eng) as s:
        save_version(s, expert2, state.rubric_id or 0, list(versions[0].criteria[:7]),
                     note="drop one", expected_lock_version=state.lock_version or 0)  # fmt: skip
    eng.dispose()
    click(at, "Save version")
    assert shown(at, "error", "was changed by expert2")
    click(at, "Reload the latest version (drop my edits)")
    assert len(table_rows(at)) == 7 and not at.warning
    assert "version 2" in at.caption[0].value


def test_review_workflow_buttons_follow_status_and_role(demo_app_db: str) -> None:
    at = editor(demo_app_db, "expert1", "med-004")
    assert not has(at, "button", "Approve") and not has(at, "button", "Reopen as draft")
    click(at, "Submit for review")
    assert shown(at, "success", "Submitted for review (version 1)")
    # The author does not review their own version.
    assert not has(at, "button", "Approve") and not has(at, "button", "Reject")
    assert shown(at, "caption", "You wrote version 1, so another expert reviews it.")
    assert has(at, "button", "Reopen as draft") and has(at, "button", "Retire")

    at = editor(demo_app_db, "expert2", "med-004")
    click(at, "Reject")
    assert shown(at, "error", "a rejection needs a comment")
    widget(at, "text_input", "Review comment").input("Add the eGFR 30 cut-off.")
    click(at, "Reject")
    assert saved(demo_app_db, "med-004")[0].status is RubricStatus.rejected
    click(at, "Reopen as draft")
    assert saved(demo_app_db, "med-004")[0].status is RubricStatus.draft

    at = editor(demo_app_db, "expert1", "med-004")
    click(at, "Submit for review")
    at = editor(demo_app_db, "expert2", "med-004")
    # One lint error remains: approval asks for confirmation.
    click(at, "Approve")
    assert shown(at, "error", "has 1 lint error(s)")
    assert saved(demo_app_db, "med-004")[0].status is RubricStatus.in_review
    widget(at, "checkbox", "Approve despite 1 lint error(s)").check()
    click(at, "Approve")
    state, versions = saved(demo_app_db, "med-004")
    assert state.status is RubricStatus.approved
    assert state.approved_version_id == versions[0].id
    eng = create_engine(demo_app_db)
    with Session(eng) as s:
        log = [(r.action.value, r.user, r.comment) for r in list_reviews(s, state.rubric_id or 0)]
    eng.dispose()
    assert log == [
        ("approve", "expert2", ""),
        ("submit", "expert1", ""),
        ("reopen", "expert2", ""),
        ("reject", "expert2", "Add the eGFR 30 cut-off."),
        ("submit", "expert1", ""),
    ]
    assert has(at, "button", "Reopen as draft") and not has(at, "button", "Approve")
    click(at, "Retire")
    assert saved(demo_app_db, "med-004")[0].status is RubricStatus.retired
    assert shown(at, "warning", "This rubric is retired")
    assert not has(at, "button", "Save version") and not at.data_editor


def test_an_edit_after_approval_goes_back_to_draft(demo_app_db: str) -> None:
    at = editor(demo_app_db, "expert1", "med-002")
    edit(at, edited_rows={0: {"description": "States a reworded check."}})
    click(at, "Save version")
    state, versions = saved(demo_app_db, "med-002")
    assert state.status is RubricStatus.draft and state.head_version_number == 2
    assert state.approved_version_id == versions[1].id  # the old approval stays on record
    assert "Draft" in at.caption[0].value and has(at, "button", "Submit for review")


@pytest.mark.parametrize("role", ["annotator1", "researcher1"])
def test_readers_get_a_read_only_editor(demo_app_db: str, role: str) -> None:
    at = editor(demo_app_db, role, "med-003")
    (info,) = values(at, "info")
    assert info.startswith("Read-only: your role") and "may read rubrics but not edit" in info
    assert not at.data_editor
    for label in ("Save version", "Submit for review", "Approve", "Redraft with LLM"):
        assert not has(at, "button", label)
    criteria = at.dataframe[0].value
    assert len(criteria) == 9 and "Avoids codeine" in set(criteria["Title"])


def test_the_editor_without_a_prompt_points_to_the_prompts_page(demo_app_db: str) -> None:
    at = app_as(user_id(demo_app_db, "expert1"), "views/editor.py")
    assert shown(at, "info", "Choose a prompt on the Prompts page")
    at = app_as(user_id(demo_app_db, "expert1"), "views/editor.py", {"prompt": "abc"})
    assert shown(at, "error", "'abc' is not a prompt id")
    at = app_as(user_id(demo_app_db, "expert1"), "views/editor.py", {"prompt": "99999"})
    assert shown(at, "error", "no prompt with id 99999")


def test_an_expert_writes_a_first_rubric_by_hand(demo_app_db: str) -> None:
    at = editor(demo_app_db, "expert1", "med-007")
    assert at.data_editor[0].value.empty and shown(at, "caption", "no rubric")
    edit(at, added_rows=[
        {"title": "Names the statin", "description": "Recommends a moderate-intensity statin.",
         "category": "Essential", "weight": 5},
        {"title": "Checks lipids", "description": "Plans a lipid panel after 6 to 12 weeks.",
         "category": "Important", "weight": 3},
    ])  # fmt: skip
    findings = at.dataframe[1].value  # lint, not a block
    assert "2 criteria; RaR rubrics have 7-20: add criteria." in set(findings["Finding"])
    click(at, "Save version")
    state, versions = saved(demo_app_db, "med-007")
    assert state.head_version_number == 1 and len(versions[0].criteria) == 2
    assert versions[0].created_by == "expert1"


def test_user_text_in_the_editor_is_never_markup(app_db: str) -> None:
    from rubricforge.models import Dataset, Prompt
    from rubricforge.models.accounts.auth import add_user
    from rubricforge.models.accounts.permissions import OPERATOR

    evil = "<img src=x onerror=alert(1)> [click](http://evil) **bold**"
    eng = create_engine(app_db)
    with session_scope(eng) as s:
        ds = Dataset(name="evil")
        s.add(ds)
        s.flush()
        s.add(Prompt(dataset_id=ds.id, external_id="[x](http://evil)", question=evil,
                     reference_answer=evil))  # fmt: skip
        add_user(s, "expert9", "expert", "correct horse battery", actor=OPERATOR)
    eng.dispose()
    at = editor(app_db, "expert9", "[x](http://evil)")
    assert values(at, "text")[:2] == [evil, evil]
    assert "](" not in at.subheader[0].value.replace("\\]", "").replace("\\(", "")
    edit(at, added_rows=[{"title": evil, "description": "Gives a good explanation.",
                          "category": "Essential", "weight": 5}])  # fmt: skip
    # Wherever markdown is rendered, every "<" and "[" is escaped: shown, not parsed.
    for kind in ("markdown", "error", "warning", "caption", "subheader"):
        for text in values(at, kind):
            assert not UNESCAPED.search(text), (kind, text)
    # In tables user text is data: the lint names the criterion by its title there.
    assert at.dataframe[1].value["Finding"].str.contains(re.escape(evil)).any()
