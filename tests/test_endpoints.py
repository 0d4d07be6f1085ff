"""LLM endpoints as an admin manages them: saved validated, the key never stored,
every write audited, bad input refused with nothing written, and a connection
test against the local scripted server."""

from __future__ import annotations

import pytest
from llm_server import Reply, ScriptedLLM
from rubricforge.models.accounts.auth import add_user
from rubricforge.models.accounts.permissions import OPERATOR, UserInfo
from rubricforge.models.core.audit import AuditEntry
from rubricforge.models.core.db import session_scope
from rubricforge.models.core.errors import (
    InvalidInputError,
    LLMConfigError,
    NotFoundError,
    PermissionDenied,
)
from rubricforge.models.llm.config import EndpointConfig
from rubricforge.models.llm.endpoints import (
    FROM_ENVIRONMENT,
    check_endpoint,
    delete_endpoint,
    endpoint_choices,
    get_endpoint,
    list_endpoints,
    resolve_endpoint,
    save_endpoint,
)
from rubricforge.models.llm.orm import LLMEndpoint
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

pytestmark = pytest.mark.db


@pytest.fixture
def people(engine: Engine) -> dict[str, UserInfo]:
    with session_scope(engine) as s:
        return {
            role: add_user(s, f"{role}1", role, "correct horse", actor=OPERATOR)
            for role in ("admin", "expert", "annotator")
        }


def add(engine: Engine, actor: UserInfo, name: str = "local", **kw: object) -> None:
    values: dict[str, object] = {
        "base_url": "http://127.0.0.1:8000/v1",
        "model": "qwen2.5-7b",
        "api_key_env": "LOCAL_KEY",
    } | kw
    with session_scope(engine) as s:
        save_endpoint(s, actor, name, **values)  # type: ignore[arg-type]


def endpoint_audit(engine: Engine) -> list[AuditEntry]:
    with Session(engine) as s:
        return list(
            s.scalars(
                select(AuditEntry)
                .where(AuditEntry.entity == "llm_endpoint")
                .order_by(AuditEntry.id)
            )
        )


def rows(engine: Engine) -> int:
    with Session(engine) as s:
        return s.scalar(select(func.count()).select_from(LLMEndpoint)) or 0


def test_admin_adds_an_endpoint_that_the_client_accepts(
    engine: Engine, people: dict[str, UserInfo]
) -> None:
    add(engine, people["admin"], params={"structured_outputs": False, "temperature": "0.5"})
    with Session(engine) as s:
        (row,) = list_endpoints(s)
        config = get_endpoint(s, "local").config()
    assert (row.name, row.model, row.api_key_env) == ("local", "qwen2.5-7b", "LOCAL_KEY")
    assert row.structured_outputs is False
    assert row.params == {"structured_outputs": False, "temperature": 0.5}
    assert config == EndpointConfig(
        base_url="http://127.0.0.1:8000/v1",
        model="qwen2.5-7b",
        api_key_env="LOCAL_KEY",
        structured_outputs=False,
        temperature=0.5,
    )
    (entry,) = endpoint_audit(engine)
    assert (entry.action, entry.actor, entry.user_id) == (
        "endpoint.add",
        "admin1",
        people["admin"].id,
    )
    assert entry.details["api_key_env"] == "LOCAL_KEY"


def test_an_endpoint_without_a_key_variable(engine: Engine, people: dict[str, UserInfo]) -> None:
    add(engine, people["admin"], api_key_env="")
    with Session(engine) as s:
        row = get_endpoint(s, "local")
    assert row.api_key_env is None and row.structured_outputs is True
    assert row.config().api_key() == "no-key"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"api_key_env": "sk-proj-abc123def456"}, "NAME of an environment variable"),
        ({"base_url": "localhost:8000"}, "is not an http\\(s\\) URL"),
        ({"model": ""}, "model"),
        ({"params": {"temperature": 7}}, "temperature"),
        ({"params": {"tempreature": 0.2}}, "tempreature"),
        ({"params": {"model": "other"}}, "params may not set model"),
        ({"name": "  "}, "needs a name"),
        ({"name": FROM_ENVIRONMENT}, "reserved"),
    ],
)
def test_bad_values_are_refused_and_nothing_is_written(
    engine: Engine, people: dict[str, UserInfo], changes: dict[str, object], message: str
) -> None:
    name = str(changes.pop("name", "local"))
    with pytest.raises((InvalidInputError, LLMConfigError), match=message):
        add(engine, people["admin"], name, **changes)
    assert rows(engine) == 0 and endpoint_audit(engine) == []


def test_only_admins_write_endpoints(engine: Engine, people: dict[str, UserInfo]) -> None:
    for role in ("expert", "annotator"):
        with pytest.raises(PermissionDenied, match="may not manage endpoints"):
            add(engine, people[role])
    add(engine, people["admin"])
    with pytest.raises(PermissionDenied), session_scope(engine) as s:
        delete_endpoint(s, people["expert"], "local")
    with pytest.raises(PermissionDenied):
        check_endpoint(people["expert"], EndpointConfig(model="m", api_key_env=None))
    assert rows(engine) == 1
    # Everyone signed in may read them: the editor lists endpoints to draft with.
    with Session(engine) as s:
        assert endpoint_choices(s) == ["local"]


def test_edit_renames_and_audits_what_changed(engine: Engine, people: dict[str, UserInfo]) -> None:
    add(engine, people["admin"])
    add(engine, people["admin"], "other", model="m2")
    with Session(engine) as s:
        local = get_endpoint(s, "local")
    with pytest.raises(InvalidInputError, match="an endpoint named 'other' exists"):
        add(engine, people["admin"], "other", endpoint_id=local.id)
    add(engine, people["admin"], "vllm", model="qwen2.5-72b", endpoint_id=local.id)
    with Session(engine) as s:
        assert [e.name for e in list_endpoints(s)] == ["other", "vllm"]
        assert get_endpoint(s, "vllm").id == local.id
    last = endpoint_audit(engine)[-1]
    assert last.action == "endpoint.update"
    assert last.details["before"] == {"name": "local", "model": "qwen2.5-7b"}
    assert last.details["after"] == {"name": "vllm", "model": "qwen2.5-72b"}
    with pytest.raises(NotFoundError, match="no LLM endpoint with id 999"):
        add(engine, people["admin"], "x", endpoint_id=999)


def test_delete(engine: Engine, people: dict[str, UserInfo]) -> None:
    add(engine, people["admin"])
    with session_scope(engine) as s:
        delete_endpoint(s, people["admin"], "local")
    assert rows(engine) == 0
    assert [e.action for e in endpoint_audit(engine)] == ["endpoint.add", "endpoint.delete"]
    with (
        pytest.raises(NotFoundError, match="no LLM endpoint named 'local'"),
        session_scope(engine) as s,
    ):
        delete_endpoint(s, people["admin"], "local")


def test_the_environment_endpoint_is_offered_when_configured(
    engine: Engine, people: dict[str, UserInfo], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUBRICFORGE_LLM_MODEL", raising=False)
    with Session(engine) as s:
        assert endpoint_choices(s) == []
        with pytest.raises(NotFoundError, match="RUBRICFORGE_LLM_MODEL is not set"):
            resolve_endpoint(s, FROM_ENVIRONMENT)
    monkeypatch.setenv("RUBRICFORGE_LLM_MODEL", "env-model")
    monkeypatch.setenv("RUBRICFORGE_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    add(engine, people["admin"])
    with Session(engine) as s:
        assert endpoint_choices(s) == ["local", FROM_ENVIRONMENT]
        assert resolve_endpoint(s, FROM_ENVIRONMENT).model == "env-model"
        assert resolve_endpoint(s, "local").model == "qwen2.5-7b"


def test_connection_check(
    people: dict[str, UserInfo], llm_server: ScriptedLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = people["admin"]
    config = EndpointConfig(base_url=llm_server.base_url, model="m", api_key_env="TEST_LLM_KEY")
    monkeypatch.delenv("TEST_LLM_KEY", raising=False)
    missing = check_endpoint(admin, config)
    assert not missing.ok and "TEST_LLM_KEY is not set" in missing.message
    assert llm_server.requests == []

    monkeypatch.setenv("TEST_LLM_KEY", "secret-value")
    llm_server.script(Reply.text("OK"))
    ok = check_endpoint(admin, config)
    assert ok.ok and "answered" in ok.message and "'OK'" in ok.message
    (request,) = llm_server.chat_requests
    assert request.headers["authorization"] == "Bearer secret-value"
    assert request.body["model"] == "m" and request.body["max_tokens"] == 8

    llm_server.script(Reply.error(401, "invalid api key"))
    refused = check_endpoint(admin, config)
    assert not refused.ok and "HTTP 401" in refused.message and "TEST_LLM_KEY" in refused.message
    assert "secret-value" not in refused.message
    # One try only: a failing endpoint is reported at once, not after backoffs.
    llm_server.script(Reply.error(503))
    assert not check_endpoint(admin, config).ok
    assert len(llm_server.chat_requests) == 3
