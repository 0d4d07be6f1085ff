"""What a failed request to an endpoint was, for retrying and for the message a
user reads: worth retrying or not, the server's Retry-After hint, and a refused
connection told apart from a slow one."""

from __future__ import annotations

import openai


def transient(exc: BaseException) -> bool:
    """Worth retrying: no connection, a timeout, 408/409/429 or a 5xx."""
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return False


def retry_after(exc: BaseException | None) -> float | None:
    """The server's Retry-After, in seconds, when it sent one."""
    if not isinstance(exc, openai.APIStatusError):
        return None
    try:
        return float(exc.response.headers.get("retry-after", ""))
    except ValueError:
        return None


def refused(exc: BaseException) -> BaseException | None:
    """The OS error under a failed connection (refused, no route, unknown host), if
    that is what it was. aiohttp's transport reports a refused connection as a
    connect *timeout*, so the type alone would call a down endpoint slow."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and not isinstance(cause, TimeoutError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def reason(exc: BaseException) -> str:
    """The failure in a few words, for logs and error messages (never the key)."""
    if isinstance(exc, openai.APIConnectionError) and (cause := refused(exc)) is not None:
        return f"could not connect ({cause})"
    if isinstance(exc, openai.APITimeoutError):
        return "timed out"
    if isinstance(exc, openai.APIStatusError):
        body = exc.body
        message = body.get("message") if isinstance(body, dict) else None
        return f"HTTP {exc.status_code}: {message or exc.message}"
    return f"{type(exc).__name__}: {exc}"
