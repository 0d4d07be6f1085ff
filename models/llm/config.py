"""Where and how to call a model: an OpenAI-compatible endpoint's settings, and the
environment variables that can name one. The API key itself is never here: only the
name of the variable that holds it."""

from __future__ import annotations

import os
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from rubricforge.models.core.errors import LLMConfigError

ENV_BASE_URL = "RUBRICFORGE_LLM_BASE_URL"
ENV_MODEL = "RUBRICFORGE_LLM_MODEL"
ENV_API_KEY_ENV = "RUBRICFORGE_LLM_API_KEY_ENV"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
# Sent to endpoints that need no key: the openai client insists on one.
NO_KEY = "no-key"

_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class EndpointConfig(BaseModel):
    """Where and how to call a model. Holds the key's variable NAME, never the key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = Field(
        default=DEFAULT_BASE_URL, min_length=1, description="OpenAI-compatible /v1 URL"
    )
    model: str = Field(min_length=1, description="Model name the endpoint knows")
    api_key_env: str | None = Field(
        default=DEFAULT_API_KEY_ENV,
        description="Environment variable holding the key; None: no key",
    )
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(default=4096, gt=0, description="Upper bound on a reply's tokens")
    timeout: float = Field(
        default=120.0, gt=0, description="Seconds before one request is given up"
    )
    max_retries: int = Field(default=5, ge=0, description="Retries of 429/5xx/timeouts per request")
    reply_retries: int = Field(default=2, ge=0, description="Re-asks after invalid JSON or schema")
    structured_outputs: bool = Field(
        default=True, description="response_format json_schema (else json_object)"
    )
    backoff_initial: float = Field(default=1.0, gt=0, description="First backoff, seconds; doubles")
    backoff_max: float = Field(default=30.0, gt=0, description="Longest backoff, seconds")
    price_in_per_mtok: float | None = Field(
        default=None, ge=0, description="USD per 1M prompt tokens"
    )
    price_out_per_mtok: float | None = Field(
        default=None, ge=0, description="USD per 1M reply tokens"
    )

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() in ("", "none"):
            return None
        if not _ENV_NAME_RE.match(value):
            # Also catches a key pasted where its variable's name belongs.
            raise ValueError(
                "must be the NAME of an environment variable (like OPENAI_API_KEY), "
                "not the key itself"
            )
        return value

    @classmethod
    def build(cls, **values: Any) -> EndpointConfig:
        """Validate user-supplied values; a bad one is an LLMConfigError naming the field."""
        try:
            return cls(**values)
        except ValidationError as exc:
            raise LLMConfigError(f"LLM endpoint settings: {problems(exc)}") from None

    @classmethod
    def from_env(cls, **overrides: Any) -> EndpointConfig:
        """Base URL, model and key variable from RUBRICFORGE_LLM_*; non-None overrides win."""
        values: dict[str, Any] = {
            "base_url": os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL,
            "model": os.environ.get(ENV_MODEL) or "",
            "api_key_env": os.environ.get(ENV_API_KEY_ENV, DEFAULT_API_KEY_ENV),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        if not values["model"]:
            raise LLMConfigError(f"no model given: pass --model or set {ENV_MODEL}.")
        return cls.build(**values)

    def describe(self) -> str:
        return f"{self.model} at {self.base_url}"

    def api_key(self) -> str:
        """The key from the environment; a clear error naming the variable when unset."""
        if self.api_key_env is None:
            return NO_KEY
        key = os.environ.get(self.api_key_env, "")
        if not key.strip():
            raise LLMConfigError(
                f"the environment variable {self.api_key_env} is not set, so there is no API key "
                f"for {self.base_url}. Export the key in {self.api_key_env}, or configure the "
                "endpoint with the variable that holds it (api_key_env none for an endpoint "
                "that needs no key)."
            )
        return key


def problems(exc: ValidationError, limit: int = 5) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "reply"
        parts.append(f"{loc}: {err['msg']}")
    more = len(exc.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
