"""The HTTP under LLMClient: one POST to an endpoint's /chat/completions.

The requests go out over one aiohttp session per client (its connection pool
kept alive between requests) rather than through the openai client: building
openai's httpx request and response objects cost about 1 ms of CPU per call,
which at 64 requests in flight on a small machine was most of the client's time.
Failures still come out as openai's exception types (APIStatusError,
APIConnectionError, APITimeoutError), so the retry rules and the messages below
are what they were. No retries here: LLMClient retries.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable

import aiohttp
import httpx2
import openai
from aiohttp.helpers import get_env_proxy_for_url
from rubricforge.models.llm.config import EndpointConfig
from yarl import URL


class ChatTransport:
    """POSTs request bodies to one endpoint's /chat/completions, inside one event loop."""

    def __init__(self, endpoint: EndpointConfig):
        self._url = endpoint.base_url.rstrip("/") + "/chat/completions"
        self._headers = {
            "Authorization": f"Bearer {endpoint.api_key()}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "rubricforge",
        }
        # As openai's client applied its timeout: to connecting, to each read and
        # to waiting for a pooled connection, not to the whole request.
        t = endpoint.timeout
        self._timeout = aiohttp.ClientTimeout(sock_connect=t, sock_read=t, connect=t)
        self._session: aiohttp.ClientSession | None = None
        # The proxy from the environment (HTTPS_PROXY, NO_PROXY ...), looked up once:
        # aiohttp's trust_env does it, and a netrc lookup, in a thread per request.
        try:
            self._proxy: URL | None = get_env_proxy_for_url(URL(self._url))[0]
        except LookupError:
            self._proxy = None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(self, body: bytes) -> bytes:
        """One POST to /chat/completions: the reply's body, or openai's error for
        a refused, dropped or timed-out request and for an HTTP error status."""
        if self._session is None:
            # Made here, inside the event loop; one per client, its pool reused.
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=self._timeout,
                cookie_jar=aiohttp.DummyCookieJar(),
                proxy=self._proxy,
            )
        try:
            async with self._session.post(self._url, data=body, allow_redirects=False) as reply:
                content = await reply.read()
                if reply.status < 400:
                    return content
                raise status_error(self._url, reply.status, reply.raw_headers, content)
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise openai.APITimeoutError(request=httpx2.Request("POST", self._url)) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise openai.APIConnectionError(
                message=f"Connection error: {exc}", request=httpx2.Request("POST", self._url)
            ) from exc


def status_error(
    url: str, status: int, headers: Iterable[tuple[bytes, bytes]], content: bytes
) -> openai.APIStatusError:
    """An HTTP error status as openai reports it: the body parsed when it is JSON,
    its "error" object as `body`, the error's message in the exception's text."""
    response = httpx2.Response(
        status, headers=list(headers), content=content, request=httpx2.Request("POST", url)
    )
    message = f"Error code: {status}"
    body: object = response.text.strip()
    with contextlib.suppress(ValueError):
        body = json.loads(str(body))
    data = body.get("error", body) if isinstance(body, dict) else body
    text = data.get("message") if isinstance(data, dict) else None
    if isinstance(text, str) and text:
        message += f" - {text}"
    return openai.APIStatusError(message, response=response, body=data)


def transient(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return False


def retry_after(exc: BaseException | None) -> float | None:
    if not isinstance(exc, openai.APIStatusError):
        return None
    try:
        return float(exc.response.headers.get("retry-after", ""))
    except ValueError:
        return None


def refused(exc: BaseException) -> BaseException | None:
    """The OS error under a failed connection (refused, no route, unknown host), if
    that is what it was: a down endpoint is reported as could not connect, not as
    slow."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and not isinstance(cause, TimeoutError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def reason(exc: BaseException) -> str:
    if isinstance(exc, openai.APIConnectionError) and (cause := refused(exc)) is not None:
        return f"could not connect ({cause})"
    if isinstance(exc, openai.APITimeoutError):
        return "timed out"
    if isinstance(exc, openai.APIStatusError):
        body = exc.body
        message = body.get("message") if isinstance(body, dict) else None
        return f"HTTP {exc.status_code}: {message or exc.message}"
    return f"{type(exc).__name__}: {exc}"
