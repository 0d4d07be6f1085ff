"""Calls to OpenAI-compatible endpoints, shared by drafting and judging.

One `LLMClient` per event loop: it bounds the requests in flight, retries what
is worth retrying (429, 5xx, timeouts, dropped connections) with exponential
backoff and jitter, asks for JSON checked against a pydantic schema, re-asks when
a reply is not valid, and adds up tokens. The API key is read from the
environment variable the config names; it is never stored, logged or put in an
error message.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import TracebackType
from typing import Any, TypeVar, cast

import httpx2
import openai
from openai import AsyncOpenAI
from pydantic import BaseModel, ValidationError
from rubricforge.models.core.errors import LLMConfigError, LLMReplyError, LLMRequestError
from rubricforge.models.llm.config import EndpointConfig
from rubricforge.models.llm.config import problems as _problems
from rubricforge.models.llm.failures import reason, refused, retry_after, transient
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)
Message = Mapping[str, str]


@dataclass
class TokenUsage:
    """Tokens spent, added up over calls (failed attempts count: they were paid for)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    # Seconds the calls waited for a request slot: not the endpoint's latency.
    queued_s: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: TokenUsage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.requests += other.requests
        self.queued_s += other.queued_s

    def cost(self, endpoint: EndpointConfig) -> float | None:
        """USD, when the endpoint's prices are configured."""
        if endpoint.price_in_per_mtok is None or endpoint.price_out_per_mtok is None:
            return None
        return (
            self.prompt_tokens * endpoint.price_in_per_mtok
            + self.completion_tokens * endpoint.price_out_per_mtok
        ) / 1e6


@dataclass(frozen=True)
class ChatReply:
    content: str | None
    finish_reason: str | None
    usage: TokenUsage


class _Message(BaseModel):
    content: str | None = None


class _Choice(BaseModel):
    message: _Message
    finish_reason: str | None = None


class _Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _Completion(BaseModel):
    """The parts of a chat completion we use; anything else an endpoint sends is ignored."""

    choices: list[_Choice] = []
    usage: _Usage | None = None


def delimit(tag: str, text: str) -> str:
    """Wrap text as data between <tag> and </tag>.

    A closing tag inside the text is defused, so user text (a question, a
    response under judgment) cannot end its own block and pose as instructions.
    """
    defused = re.sub(rf"<(\s*/?\s*{re.escape(tag)})", r"&lt;\1", text, flags=re.I)
    return f"<{tag}>\n{defused}\n</{tag}>"


@lru_cache(maxsize=256)
def json_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """The schema as OpenAI's strict structured outputs accept it.

    Keywords strict mode rejects are dropped; pydantic still checks them on the reply.
    """

    def clean(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: clean(v) for k, v in node.items() if k not in _UNSUPPORTED}
            if out.get("type") == "object" and "properties" in out:
                out["additionalProperties"] = False
                out["required"] = list(out["properties"])
            return out
        if isinstance(node, list):
            return [clean(v) for v in node]
        return node

    return cast(dict[str, Any], clean(schema.model_json_schema()))


_UNSUPPORTED = frozenset({"minLength", "maxLength", "default"})
_FENCE_RE = re.compile(r"^\s*```(?:json)?\s*\n?(.*?)\n?\s*```\s*$", re.S | re.I)


@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    """The default verifying context (it honours SSL_CERT_FILE), built once per
    process: loading the CA bundle costs ~20 ms, which every judge batch (every
    GRPO step) paid when each client built its own."""
    return httpx2.create_ssl_context()


class LLMClient:
    """An async client for one endpoint, to use inside one event loop.

    `concurrency` bounds requests in flight; a request waiting out a backoff
    does not hold a slot.
    """

    def __init__(self, endpoint: EndpointConfig, *, concurrency: int = 8):
        if concurrency < 1:
            raise LLMConfigError(f"concurrency must be at least 1, not {concurrency}.")
        self.endpoint = endpoint
        self.usage = TokenUsage()
        self._slots = asyncio.Semaphore(concurrency)
        # Our own retries (tenacity) replace the client's, so a retry is counted,
        # logged and bounded in one place.
        self._openai = AsyncOpenAI(
            base_url=endpoint.base_url,
            api_key=endpoint.api_key(),
            timeout=endpoint.timeout,
            max_retries=0,
            # aiohttp as transport (openai's advice for concurrency): about half
            # the CPU per request of the default httpx transport at 64 in flight.
            http_client=openai.DefaultAioHttpClient(verify=_ssl_context()),
        )
        # The chat URL merged once, as openai merges a relative path with base_url
        # (BaseClient._prepare_url): an absolute URL skips that merge, ~12% of the
        # client's CPU per request.
        base = self._openai.base_url
        self._chat_url = str(base.copy_with(raw_path=base.raw_path + b"chat/completions"))

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._openai.close()

    def _wait(self, state: RetryCallState) -> float:
        ep = self.endpoint
        base = wait_exponential_jitter(
            multiplier=ep.backoff_initial, max=ep.backoff_max, jitter=ep.backoff_initial
        )(state)
        exc = state.outcome.exception() if state.outcome else None
        hinted = retry_after(exc)
        return max(base, min(hinted, ep.backoff_max)) if hinted is not None else base

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.info(
            "%s: %s; retry %d of %d",
            self.endpoint.describe(),
            reason(exc) if exc else "?",
            state.attempt_number,
            self.endpoint.max_retries,
        )

    async def chat(
        self, messages: Iterable[Message], *, response_format: dict[str, Any] | None = None
    ) -> ChatReply:
        """One chat completion, retried on 429/5xx/timeouts/connection errors."""
        ep = self.endpoint
        params: dict[str, Any] = {
            "model": ep.model,
            "messages": list(messages),
            "temperature": ep.temperature,
            "max_tokens": ep.max_tokens,
        }
        if response_format is not None:
            params["response_format"] = response_format
        usage = TokenUsage(requests=1)
        try:
            # The common case, one attempt, skips the retry machinery: building
            # AsyncRetrying and walking its actions costs ~0.1 ms of CPU per call.
            response = await self._post(params, usage)
        except openai.APIError as exc:
            # tenacity decides from here as before: whether to retry at all
            # (transient, attempts left), how long to wait, what to log.
            response = await self._retry(params, exc, usage)
        # The slot this request held is free: let the requests waiting for slots go
        # out before this reply is parsed (a wave of replies otherwise delays every
        # next request by the parsing of all the replies read before it). The first
        # yield runs the request woken for this slot; the second puts this parse
        # behind the requests woken by the other replies of the same loop pass.
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        try:
            completion = _Completion.model_validate_json(response.content)
        except ValidationError as exc:
            raise LLMRequestError(
                f"{ep.describe()} answered with something that is not a chat completion "
                f"({_problems(exc, 2)}). Check the base URL: it should end in /v1."
            ) from None
        if completion.usage is not None:
            usage.prompt_tokens = completion.usage.prompt_tokens
            usage.completion_tokens = completion.usage.completion_tokens
        self.usage.add(usage)
        if not completion.choices:
            return ChatReply(None, None, usage)
        choice = completion.choices[0]
        return ChatReply(choice.message.content, choice.finish_reason, usage)

    async def _post(self, params: dict[str, Any], usage: TokenUsage) -> httpx2.Response:
        queued = time.monotonic()
        async with self._slots:
            usage.queued_s += time.monotonic() - queued
            # The documented raw `post` instead of `chat.completions.create`:
            # create() walks every parameter through its TypedDict transform
            # and builds typed objects from the reply, about 2 ms of CPU per
            # call; at 64 in flight on a small machine that costs a core.
            return await self._openai.post(self._chat_url, body=params, cast_to=httpx2.Response)

    async def _retry(
        self, params: dict[str, Any], failed: openai.APIError, usage: TokenUsage
    ) -> httpx2.Response:
        """Attempts 2.. after a failed first one; tenacity sees `failed` as attempt 1,
        so which errors are retried, backoff, logging and the attempt count are as if it
        had made that call."""
        ep = self.endpoint
        retrying = AsyncRetrying(
            stop=stop_after_attempt(ep.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception(transient),
            before_sleep=self._log_retry,
            reraise=True,
        )
        pending: openai.APIError | None = failed
        try:
            async for attempt in retrying:
                with attempt:
                    if pending is not None:
                        exc, pending = pending, None
                        raise exc
                    return await self._post(params, usage)
        except openai.APIError as exc:
            raise self._request_error(exc) from None
        raise AssertionError("unreachable: tenacity reraises the last error")

    def _request_error(self, exc: openai.APIError) -> LLMRequestError:
        ep = self.endpoint
        where = ep.describe()
        if transient(exc):
            advice = (
                f"Check that the endpoint is up at {ep.base_url}, then try again."
                if isinstance(exc, openai.APIConnectionError) and refused(exc) is not None
                else "Try again later, or with fewer requests in flight."
            )
            return LLMRequestError(
                f"{where} failed {ep.max_retries + 1} time(s), the last: {reason(exc)}. {advice}"
            )
        hint = ""
        if isinstance(exc, openai.APIStatusError):
            if exc.status_code in (401, 403):
                hint = f" Check the key in ${ep.api_key_env}." if ep.api_key_env else ""
            elif exc.status_code == 404:
                hint = f" Check the base URL and that the model '{ep.model}' exists there."
            elif exc.status_code in (400, 422) and ep.structured_outputs:
                hint = " If the endpoint lacks structured outputs, turn structured_outputs off."
        return LLMRequestError(f"{where} refused the request ({reason(exc)}).{hint}")

    async def complete_json(
        self, messages: Iterable[Message], schema: type[T]
    ) -> tuple[T, TokenUsage]:
        """Ask for JSON matching `schema`; re-ask with the problems when a reply breaks it.

        Raises LLMReplyError (with the last raw reply) when every attempt fails.
        """
        ep = self.endpoint
        if ep.structured_outputs:
            response_format: dict[str, Any] = {
                "type": "json_schema",
                "json_schema": {
                    "name": schema.__name__,
                    "schema": json_schema(schema),
                    "strict": True,
                },
            }
        else:
            response_format = {"type": "json_object"}
        asked: list[Message] = list(messages)
        convo = asked
        spent = TokenUsage()
        raw, problems = "", ""
        attempts = ep.reply_retries + 1
        for _ in range(attempts):
            reply = await self.chat(convo, response_format=response_format)
            spent.add(reply.usage)
            raw = reply.content or ""
            problems = _check_reply(reply)
            if not problems:
                try:
                    return schema.model_validate_json(_unfence(raw)), spent
                except ValidationError as exc:
                    problems = _problems(exc)
            log.info("%s: invalid reply (%s)", ep.describe(), problems)
            # Show the model its reply and what was wrong: re-asking blindly at
            # temperature 0 tends to get the same reply again.
            convo = [
                *asked,
                {"role": "assistant", "content": raw},
                {
                    "role": "user",
                    "content": f"That reply was not valid: {problems}. "
                    "Answer again with only the JSON object, following the format exactly.",
                },
            ]
        shown = raw if len(raw) <= 300 else raw[:300] + " ..."
        raise LLMReplyError(
            f"{ep.describe()} gave no valid reply in {attempts} attempt(s); "
            f"the last: {problems}. Reply: {shown!r}",
            raw=raw,
            problems=problems,
            attempts=attempts,
            tokens_in=spent.prompt_tokens,
            tokens_out=spent.completion_tokens,
        )


def _check_reply(reply: ChatReply) -> str:
    if reply.content is None or not reply.content.strip():
        return "the reply was empty"
    if reply.finish_reason == "length":
        return "the reply was cut off at max_tokens (raise max_tokens)"
    return ""


def _unfence(text: str) -> str:
    """Models without JSON mode often wrap JSON in a ``` fence."""
    m = _FENCE_RE.match(text)
    return m.group(1) if m else text
