"""The admin page: accounts and LLM endpoints (AppTest on the real app)."""

from __future__ import annotations

import pytest
from llm_server import Reply, ScriptedLLM
from rubricforge.models.accounts.auth import authenticate, list_users
from rubricforge.models.accounts.throttle import ACCOUNT_LIMIT
from rubricforge.models.llm.endpoints import list_endpoints
from rubricforge.models.training.thresholds import list_thresholds
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest
from webapp_support import PASSWORD, app_as, click, has, shown, user_id, widget

pytestmark = pytest.mark.db


def admin_page(url: str) -> AppTest:
    return app_as(user_id(url, "admin"), "views/admin.py")


def can_sign_in(url: str, username: str, password: str) -> bool:
    eng = create_engine(url)
    with Session(eng) as s, s.begin():
        ok = authenticate(s, username, password) is not None
    eng.dispose()
    return ok


def fill(at: AppTest, **fields: str) -> None:
    for label, value in fields.items():
        widget(at, "text_input", label.replace("_", " ")).input(value)


def test_admin_adds_a_user_who_can_then_sign_in(demo_app_db: str) -> None:
    at = admin_page(demo_app_db)
    users = at.dataframe[0].value
    assert "expert1" in set(users["Username"]) and set(users["Active"]) == {True}
    fill(at, Username="Nina", Display_name="Dr. Nina Berg", Initial_password="long enough pw")
    widget(at, "selectbox", "Role").set_value("expert")
    click(at, "Add user")
    assert shown(at, "success", "Added nina (expert).")
    assert "nina" in set(at.dataframe[0].value["Username"])
    assert can_sign_in(demo_app_db, "nina", "long enough pw")


def test_bad_new_users_are_refused_with_the_reason(demo_app_db: str) -> None:
    at = admin_page(demo_app_db)
    fill(at, Username="nina", Initial_password="short")
    click(at, "Add user")
    assert shown(at, "error", "password too short: use at least 8 characters")
    fill(at, Username="expert1", Initial_password="long enough pw")
    click(at, "Add user")
    assert shown(at, "error", "username 'expert1' is taken")
    eng = create_engine(demo_app_db)
    with Session(eng) as s:
        assert "nina" not in {u.username for u in list_users(s)}
    eng.dispose()


def test_disable_enable_and_reset_a_password(demo_app_db: str) -> None:
    at = admin_page(demo_app_db)
    widget(at, "selectbox", "User").set_value("expert2")
    at.run()
    click(at, "Disable account")
    assert shown(at, "success", "Disabled expert2.")
    assert not can_sign_in(demo_app_db, "expert2", PASSWORD)
    users = at.dataframe[0].value.set_index("Username")
    assert not users.loc["expert2", "Active"]
    click(at, "Enable account")
    assert can_sign_in(demo_app_db, "expert2", PASSWORD)
    widget(at, "text_input", "New password").input("a brand new one")
    click(at, "Reset password")
    assert shown(at, "success", "Set a new password for expert2.")
    assert can_sign_in(demo_app_db, "expert2", "a brand new one")
    assert not can_sign_in(demo_app_db, "expert2", PASSWORD)


def test_a_locked_account_is_shown_and_unlocked(demo_app_db: str) -> None:
    for _ in range(ACCOUNT_LIMIT):
        assert not can_sign_in(demo_app_db, "expert1", "wrong password")
    at = admin_page(demo_app_db)
    assert list(at.dataframe[1].value["Name or address"]) == ["expert1"]
    click(at, "Unlock account")
    assert shown(at, "success", "Unlocked expert1")
    assert not has(at, "button", "Unlock account")
    assert can_sign_in(demo_app_db, "expert1", PASSWORD)


def test_the_last_admin_cannot_be_disabled(demo_app_db: str) -> None:
    at = admin_page(demo_app_db)
    widget(at, "selectbox", "User").set_value("admin")
    at.run()
    click(at, "Disable account")
    assert shown(at, "error", "admin is the last active admin")
    assert has(at, "button", "Disable account")


def test_admin_manages_endpoints_and_tests_the_connection(
    demo_app_db: str, llm_server: ScriptedLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCAL_LLM_KEY", "the-secret-key")
    at = admin_page(demo_app_db)
    assert shown(at, "caption", "No endpoints yet")
    fill(at, Name="local", Model="qwen-local", Base_URL=llm_server.base_url,
         API_key_environment_variable="LOCAL_LLM_KEY")  # fmt: skip
    widget(at, "checkbox", "Structured outputs (json_schema)").uncheck()
    click(at, "Save endpoint")
    assert shown(at, "success", "Saved endpoint local.")
    eng = create_engine(demo_app_db)
    with Session(eng) as s:
        (row,) = list_endpoints(s)
    assert (row.model, row.api_key_env, row.structured_outputs) == ("qwen-local", "LOCAL_LLM_KEY",
                                                                    False)  # fmt: skip

    widget(at, "selectbox", "Endpoint").set_value("local")
    at.run()
    llm_server.script(Reply.text("OK"))
    click(at, "Test connection")
    assert shown(at, "success", "answered in")
    assert llm_server.chat_requests[0].headers["authorization"] == "Bearer the-secret-key"
    llm_server.script(Reply.error(404, "model not found"))
    click(at, "Test connection")
    assert shown(at, "error", "refused the request (HTTP 404")
    assert shown(at, "error", "that the model 'qwen-local' exists there")

    # Edit: the form shows the row; a key pasted for its variable name is refused.
    assert widget(at, "text_input", "Model").value == "qwen-local"
    fill(at, API_key_environment_variable="sk-live-0123456789abcdef")
    click(at, "Save endpoint")
    assert shown(at, "error", "NAME of an environment variable")
    fill(at, API_key_environment_variable="", Model="qwen-72b")
    click(at, "Save endpoint")
    with Session(eng) as s:
        (row,) = list_endpoints(s)
    assert (row.model, row.api_key_env) == ("qwen-72b", None)

    widget(at, "selectbox", "Endpoint").set_value("local")
    at.run()
    assert widget(at, "button", "Delete endpoint").disabled
    widget(at, "checkbox", "Yes, delete local").check()
    at.run()
    click(at, "Delete endpoint")
    assert shown(at, "success", "Deleted endpoint local.")
    with Session(eng) as s:
        assert list_endpoints(s) == []
    eng.dispose()


def test_a_missing_key_variable_fails_the_connection_test_clearly(
    demo_app_db: str, llm_server: ScriptedLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("UNSET_KEY_VAR", raising=False)
    at = admin_page(demo_app_db)
    fill(at, Name="remote", Model="gpt-4o-mini", Base_URL=llm_server.base_url,
         API_key_environment_variable="UNSET_KEY_VAR")  # fmt: skip
    click(at, "Save endpoint")
    widget(at, "selectbox", "Endpoint").set_value("remote")
    at.run()
    click(at, "Test connection")
    assert shown(at, "error", "the environment variable UNSET_KEY_VAR is not set")
    assert llm_server.requests == []


def test_admin_sets_the_workspace_and_a_datasets_gate_thresholds(demo_app_db: str) -> None:
    at = admin_page(demo_app_db)
    assert shown(at, "caption", "No thresholds set: the defaults apply")
    widget(at, "number_input", "Minimum kappa").set_value(0.7)
    widget(at, "number_input", "Minimum labelled items").set_value(40)
    click(at, "Save thresholds")
    assert shown(at, "success", "kappa ≥ 0.7 over ≥ 40 items")
    scope = widget(at, "selectbox", "Scope")
    dataset = scope.options[1]
    scope.set_value(dataset).run()
    # A dataset without its own row starts from the workspace's values.
    assert widget(at, "number_input", "Minimum kappa").value == 0.7
    widget(at, "number_input", "Minimum kappa").set_value(0.5)
    click(at, "Save thresholds")
    assert shown(at, "success", f"Gate thresholds for {dataset}: kappa ≥ 0.5 over ≥ 40")
    [table] = [d.value for d in at.dataframe if "Scope" in d.value.columns]
    assert list(table["Scope"]) == ["workspace", dataset]
    assert list(table["Minimum kappa"]) == [0.7, 0.5]
    eng = create_engine(demo_app_db)
    with Session(eng) as s:
        rows = list_thresholds(s)
    eng.dispose()
    assert [(r.dataset, r.min_kappa, r.min_labels) for r in rows] == [
        (None, 0.7, 40),
        (dataset, 0.5, 40),
    ]
