"""LLM drafting from the editor, against the local scripted OpenAI-compatible server:
a first draft saved as version 1, a bad reply that saves nothing, and a redraft
that leaves the expert's version alone until they choose."""

from __future__ import annotations

import pytest
from llm_server import Reply, ScriptedLLM, rubric_items
from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.core.db import session_scope
from rubricforge.models.llm.endpoints import save_endpoint
from rubricforge.models.rubrics.authoring import VersionInfo, list_versions, load_editor_state
from rubricforge.models.rubrics.drafting import template_hash
from rubricforge.models.rubrics.orm import VersionSource
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest
from webapp_support import app_as, click, has, prompt_id, shown, user_id, values, widget

pytestmark = pytest.mark.db


@pytest.fixture
def drafting_db(demo_app_db: str, llm_server: ScriptedLLM) -> str:
    eng = create_engine(demo_app_db)
    with session_scope(eng) as s:
        save_endpoint(s, OPERATOR, "local", base_url=llm_server.base_url, model="qwen-local",
                      api_key_env=None)  # fmt: skip
    eng.dispose()
    return demo_app_db


def editor(url: str, external_id: str, username: str = "expert1") -> AppTest:
    pid = prompt_id(url, external_id)
    return app_as(user_id(url, username), "views/editor.py", {"prompt": str(pid)})


def versions(url: str, external_id: str) -> list[VersionInfo]:
    eng = create_engine(url)
    with Session(eng) as s:
        state = load_editor_state(s, prompt_id(url, external_id))
        found = list_versions(s, state.rubric_id) if state.rubric_id else []
    eng.dispose()
    return found


def test_draft_with_llm_saves_version_1_with_its_provenance(
    drafting_db: str, llm_server: ScriptedLLM
) -> None:
    at = editor(drafting_db, "med-007")
    assert widget(at, "selectbox", "LLM endpoint").options == ["local"]
    llm_server.script(Reply.json(rubric_items(9)))
    click(at, "Draft with LLM")
    assert shown(at, "success", "Saved the draft as version 1 (9 criteria).")
    (v1,) = versions(drafting_db, "med-007")
    assert (v1.source, v1.llm_model, v1.template_hash) == (
        VersionSource.llm,
        "qwen-local",
        template_hash(),
    )
    assert v1.created_by == "expert1" and len(v1.criteria) == 9
    (request,) = llm_server.chat_requests
    assert "A 45-year-old office worker" in request.text  # the question went to the model
    # The editor now shows the draft to work on.
    assert list(at.data_editor[0].value["title"])[:2] == ["Essential point 1", "Important point 2"]
    assert not has(at, "button", "Draft with LLM") and has(at, "button", "Redraft with LLM")


def test_a_bad_reply_is_reported_and_nothing_is_saved(
    drafting_db: str, llm_server: ScriptedLLM
) -> None:
    at = editor(drafting_db, "med-007")
    too_few = Reply.json(rubric_items(3))
    llm_server.script(Reply.text("Sure! Here is a rubric: {oops"), too_few, too_few)
    click(at, "Draft with LLM")
    assert shown(at, "error", "gave no valid reply in 3 attempt(s)")
    assert versions(drafting_db, "med-007") == []
    assert has(at, "button", "Draft with LLM")


def test_an_unreachable_endpoint_is_a_message(drafting_db: str, llm_server: ScriptedLLM) -> None:
    at = editor(drafting_db, "med-007")
    llm_server.respond_with(lambda _body: Reply.error(401, "bad key"))
    click(at, "Draft with LLM")
    assert shown(at, "error", "refused the request (HTTP 401")
    assert versions(drafting_db, "med-007") == []


def test_redraft_shows_a_diff_and_keeps_the_expert_version(
    drafting_db: str, llm_server: ScriptedLLM
) -> None:
    at = editor(drafting_db, "med-004")
    llm_server.script(Reply.json(rubric_items(8)))
    click(at, "Redraft with LLM")
    assert shown(at, "info", "New draft: 8 criteria. Version 1 stays as it is")
    assert len(versions(drafting_db, "med-004")) == 1
    diff = at.dataframe[-1].value
    assert list(diff["Change"]).count("added") == 8
    assert "Essential point 1" in set(diff["Criterion"])

    # Merge by hand: the draft's rows go under the expert's, unsaved edits kept.
    at.session_state[at.data_editor[0].key] = {
        "edited_rows": {0: {"weight": 4}}, "added_rows": [], "deleted_rows": []
    }  # fmt: skip
    at.run()
    click(at, "Add the draft's criteria to the table")
    titles = list(at.data_editor[0].value["title"])
    assert len(titles) == 16 and titles[8] == "Essential point 1"
    assert list(at.data_editor[0].value["weight"])[0] == 4
    click(at, "Save version")
    head = versions(drafting_db, "med-004")[0]
    assert head.source is VersionSource.merge and len(head.criteria) == 16

    # Or take a draft whole, as a new version that records the model.
    llm_server.script(Reply.json(rubric_items(10)))
    click(at, "Redraft with LLM")
    click(at, "Take the draft as a new version")
    assert shown(at, "success", "Saved the redraft as version 3 (10 criteria).")
    head = versions(drafting_db, "med-004")[0]
    assert (head.source, head.llm_model, len(head.criteria)) == (
        VersionSource.llm,
        "qwen-local",
        10,
    )


def test_discarding_a_redraft_changes_nothing(drafting_db: str, llm_server: ScriptedLLM) -> None:
    at = editor(drafting_db, "med-004")
    llm_server.script(Reply.json(rubric_items(8)))
    click(at, "Redraft with LLM")
    click(at, "Discard the draft")
    assert not has(at, "button", "Take the draft as a new version")
    assert len(versions(drafting_db, "med-004")) == 1
    assert len(at.data_editor[0].value) == 8


def test_without_an_endpoint_the_editor_says_where_to_add_one(demo_app_db: str) -> None:
    at = editor(demo_app_db, "med-007")
    assert not has(at, "button", "Draft with LLM")
    assert any("an admin adds one on the Admin page" in c for c in values(at, "caption"))


def test_the_environment_endpoint_can_draft(
    demo_app_db: str, llm_server: ScriptedLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUBRICFORGE_LLM_BASE_URL", llm_server.base_url)
    monkeypatch.setenv("RUBRICFORGE_LLM_MODEL", "env-model")
    monkeypatch.setenv("RUBRICFORGE_LLM_API_KEY_ENV", "none")
    at = editor(demo_app_db, "chem-007", "expert2")
    assert widget(at, "selectbox", "LLM endpoint").options == ["(environment)"]
    llm_server.script(Reply.json(rubric_items(7)))
    click(at, "Draft with LLM")
    assert versions(demo_app_db, "chem-007")[0].llm_model == "env-model"


def test_a_redraft_sits_beside_the_table_and_is_taken_one_criterion_at_a_time(
    drafting_db: str, llm_server: ScriptedLLM
) -> None:
    at = editor(drafting_db, "med-004")
    before = list(at.data_editor[0].value["title"])
    llm_server.script(Reply.json(rubric_items(8)))
    click(at, "Redraft with LLM")
    assert shown(at, "markdown", "Your table") and shown(at, "markdown", "The draft")
    assert shown(at, "markdown", "Essential point 1")  # each draft criterion in full
    at.session_state[at.data_editor[0].key] = {
        "edited_rows": {0: {"weight": 4}}, "added_rows": [], "deleted_rows": []
    }  # fmt: skip
    at.run()
    click(at, "Add draft criterion 2 to the table")
    rows = at.data_editor[0].value
    assert list(rows["title"]) == [*before, "Important point 2"]
    assert list(rows["weight"])[0] == 4  # the unsaved edit stayed
    assert widget(at, "button", "Added").disabled
    click(at, "Save version")
    head = versions(drafting_db, "med-004")[0]
    assert head.source is VersionSource.merge and len(head.criteria) == len(before) + 1
