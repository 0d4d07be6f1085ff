"""LLM endpoints an admin configures: add, edit, delete, list, and test them.

A row holds where and how to call a model (base URL, model, the NAME of the
environment variable with the API key) and, in `params`, any other
`EndpointConfig` field (structured_outputs, temperature, ...). The key itself
is never stored. Every value goes through the same pydantic model the LLM
client uses, so a row that saves is a row the client accepts.

Reading is open to every signed-in role (the editor lists endpoints to draft
with, and a row holds no secret); writes need `Action.manage_endpoints` and
land in the audit log.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from rubricforge.models.accounts.permissions import Action, UserInfo, require
from rubricforge.models.core.audit import audit
from rubricforge.models.core.errors import InvalidInputError, LLMError, NotFoundError
from rubricforge.models.llm.client import LLMClient
from rubricforge.models.llm.config import ENV_BASE_URL, ENV_MODEL, EndpointConfig
from rubricforge.models.llm.orm import LLMEndpoint
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

NAME_MAX = 100  # the column's length
MODEL_MAX = 200
ENV_NAME_MAX = 100
# The choice that stands for RUBRICFORGE_LLM_* (the CLI's configuration) in the app.
FROM_ENVIRONMENT = "(environment)"
# Fields a row has its own column for; everything else EndpointConfig knows goes in params.
_COLUMNS = frozenset({"base_url", "model", "api_key_env"})


@dataclass(frozen=True)
class EndpointRow:
    id: int
    name: str
    base_url: str
    model: str
    api_key_env: str | None
    params: dict[str, Any]
    created_at: datetime

    @property
    def structured_outputs(self) -> bool:
        return bool(self.params.get("structured_outputs", True))

    def config(self) -> EndpointConfig:
        return EndpointConfig.build(
            base_url=self.base_url, model=self.model, api_key_env=self.api_key_env, **self.params
        )


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    message: str


def _row(e: LLMEndpoint) -> EndpointRow:
    return EndpointRow(
        id=e.id,
        name=e.name,
        base_url=e.base_url,
        model=e.model,
        api_key_env=e.api_key_env,
        params=dict(e.params or {}),
        created_at=e.created_at,
    )


def list_endpoints(session: Session) -> list[EndpointRow]:
    return [_row(e) for e in session.scalars(select(LLMEndpoint).order_by(LLMEndpoint.name))]


def _find(session: Session, name: str, *, for_update: bool = False) -> LLMEndpoint:
    stmt = select(LLMEndpoint).where(LLMEndpoint.name == name.strip())
    if for_update:
        stmt = stmt.with_for_update()
    row = session.scalar(stmt)
    if row is None:
        raise NotFoundError(f"no LLM endpoint named {name!r}; the admin page lists them")
    return row


def get_endpoint(session: Session, name: str) -> EndpointRow:
    return _row(_find(session, name))


def environment_endpoint() -> EndpointConfig | None:
    """The endpoint RUBRICFORGE_LLM_* describe (as the CLI uses it), or None when no
    model is set there."""
    if not os.environ.get(ENV_MODEL):
        return None
    return EndpointConfig.from_env()


def endpoint_choices(session: Session) -> list[str]:
    """Names to draft with: the configured rows, then the environment's endpoint if set."""
    names = [e.name for e in list_endpoints(session)]
    return [*names, FROM_ENVIRONMENT] if os.environ.get(ENV_MODEL) else names


def resolve_endpoint(session: Session, choice: str) -> EndpointConfig:
    """The config behind a name from `endpoint_choices`."""
    if choice == FROM_ENVIRONMENT:
        config = environment_endpoint()
        if config is None:
            raise NotFoundError(f"{ENV_MODEL} is not set, so there is no environment endpoint")
        return config
    return get_endpoint(session, choice).config()


def _validate(
    name: str, base_url: str, model: str, api_key_env: str | None, params: dict[str, Any]
) -> tuple[str, EndpointConfig]:
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise InvalidInputError(f"an endpoint needs a name of 1-{NAME_MAX} characters")
    if name == FROM_ENVIRONMENT:
        raise InvalidInputError(f"{FROM_ENVIRONMENT} is reserved for {ENV_BASE_URL}/{ENV_MODEL}")
    url = urlparse(base_url.strip())
    if url.scheme not in ("http", "https") or not url.netloc:
        raise InvalidInputError(
            f"base URL {base_url!r} is not an http(s) URL; give the endpoint's OpenAI-compatible "
            "root, like https://api.openai.com/v1 or http://localhost:8000/v1"
        )
    if len(model.strip()) > MODEL_MAX:
        raise InvalidInputError(f"model name too long: at most {MODEL_MAX} characters")
    if api_key_env and len(api_key_env.strip()) > ENV_NAME_MAX:
        raise InvalidInputError(
            f"API key variable name too long: at most {ENV_NAME_MAX} characters"
        )
    overlap = sorted(_COLUMNS & set(params))
    if overlap:
        raise InvalidInputError(f"params may not set {', '.join(overlap)}; use the fields")
    config = EndpointConfig.build(
        base_url=base_url.strip(),
        model=model.strip(),
        api_key_env=(api_key_env or "").strip() or None,
        **params,
    )
    return name, config


def save_endpoint(
    session: Session,
    actor: UserInfo,
    name: str,
    *,
    base_url: str,
    model: str,
    api_key_env: str | None,
    params: dict[str, Any] | None = None,
    endpoint_id: int | None = None,
) -> EndpointRow:
    """Add an endpoint, or change the one with `endpoint_id` (its name too).

    `api_key_env` is the NAME of the variable holding the key (None or "": the
    endpoint needs no key); a value that looks like a key is refused.
    """
    require(actor, Action.manage_endpoints)
    params = dict(params or {})
    name, config = _validate(name, base_url, model, api_key_env, params)
    taken = session.scalar(select(LLMEndpoint.id).where(LLMEndpoint.name == name))
    if taken is not None and taken != endpoint_id:
        raise InvalidInputError(f"an endpoint named {name!r} exists; choose another name")
    values = {
        "name": name,
        "base_url": config.base_url,
        "model": config.model,
        "api_key_env": config.api_key_env,
        # Stored as validated (e.g. "0.5" typed for temperature becomes 0.5).
        "params": {key: getattr(config, key) for key in params},
    }
    if endpoint_id is None:
        row = LLMEndpoint(**values)
        session.add(row)
        action, details = "endpoint.add", values
    else:
        found = session.get(LLMEndpoint, endpoint_id, with_for_update=True)
        if found is None:
            raise NotFoundError(f"no LLM endpoint with id {endpoint_id}; it may have been deleted")
        row = found
        changed = [k for k, v in values.items() if getattr(row, k) != v]
        action = "endpoint.update"
        details = {
            "name": name,
            "before": {k: getattr(row, k) for k in changed},
            "after": {k: values[k] for k in changed},
        }
        for key in changed:
            setattr(row, key, values[key])
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # someone took the name between our check and the write
        raise InvalidInputError(f"an endpoint named {name!r} exists; choose another name") from None
    audit(
        session,
        actor=actor.username,
        user_id=actor.id,
        action=action,
        entity="llm_endpoint",
        entity_id=row.id,
        details=details,
    )
    return _row(row)


def delete_endpoint(session: Session, actor: UserInfo, name: str) -> None:
    require(actor, Action.manage_endpoints)
    row = _find(session, name, for_update=True)
    gone = _row(row)
    session.delete(row)
    session.flush()
    audit(
        session,
        actor=actor.username,
        user_id=actor.id,
        action="endpoint.delete",
        entity="llm_endpoint",
        entity_id=gone.id,
        details={
            "name": gone.name,
            "base_url": gone.base_url,
            "model": gone.model,
            "api_key_env": gone.api_key_env,
            "params": gone.params,
        },
    )


def check_endpoint(
    actor: UserInfo, config: EndpointConfig, *, timeout: float = 20.0
) -> ConnectionCheck:
    """Ask the endpoint for a one-word completion: proves the URL, the key and the
    model name together. Never raises for an endpoint problem; says what failed."""
    require(actor, Action.manage_endpoints)
    # One short try: an admin waiting on a button wants the failure, not five retries.
    probe = config.model_copy(
        update={"max_tokens": 8, "max_retries": 0, "timeout": min(config.timeout, timeout)}
    )

    async def once() -> str | None:
        async with LLMClient(probe, concurrency=1) as client:
            reply = await client.chat([{"role": "user", "content": "Reply with the word OK."}])
            return reply.content

    started = time.perf_counter()
    try:
        content = asyncio.run(once())
    except LLMError as exc:
        return ConnectionCheck(False, f"{config.describe()} failed: {exc}")
    seconds = time.perf_counter() - started
    said = (content or "").strip()[:40] or "an empty reply"
    return ConnectionCheck(True, f"{config.describe()} answered in {seconds:.1f} s: {said!r}")
