"""A scripted, local OpenAI-compatible HTTP server for tests and benches.

It speaks the real wire format (`POST /v1/chat/completions`, `GET /v1/models`), so
the code under test runs its real `openai` client over real HTTP. An aiohttp
server runs in a background thread with its own event loop; every request is
handled concurrently, so a 200 ms reply with 64 requests in flight costs 200 ms,
not 64 x 200 ms. (aiohttp rather than uvicorn + starlette: about 40% less CPU per
request, which counts when a bench shares 2 cores with the client.)

Run alone (for benches, in its own process so its CPU does not compete with
the client's): `python tests/llm_server.py --delay 0.2` prints its base URL.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web


@dataclass(frozen=True)
class Reply:
    """What the server answers to one request."""

    content: str | None = None  # the assistant message text
    status: int = 200
    delay: float = 0.0  # seconds to wait before answering
    finish_reason: str = "stop"
    prompt_tokens: int | None = None  # None: a rough count of the request's text
    completion_tokens: int | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, obj: Any, **kw: Any) -> Reply:
        """A well-formed JSON reply."""
        return cls(content=json.dumps(obj), **kw)

    @classmethod
    def text(cls, text: str, **kw: Any) -> Reply:
        """Any text as the reply, e.g. malformed JSON."""
        return cls(content=text, **kw)

    @classmethod
    def error(
        cls, status: int, message: str = "", *, retry_after: float | None = None, **kw: Any
    ) -> Reply:
        """An HTTP error in OpenAI's error shape (429, 500, 401, ...)."""
        headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
        return cls(
            content=message or f"scripted error {status}", status=status, headers=headers, **kw
        )

    @classmethod
    def slow(cls, delay: float, obj: Any) -> Reply:
        """A good JSON reply that takes `delay` seconds."""
        return cls.json(obj, delay=delay)


Responder = Callable[[dict[str, Any]], Reply]


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    peer: int = 0  # the client's port: requests with the same one shared a connection

    @property
    def text(self) -> str:
        """All message contents of a chat request, joined: what the model was told."""
        return "\n".join(_content_text(m.get("content")) for m in self.body.get("messages", []))


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def all_met(body: dict[str, Any]) -> Reply:
    """An explicit judge's reply calling every criterion of the prompt's rubric met
    (pitfalls too)."""
    n = int(re.search(r"RUBRIC \((\d+) criteria\)", body["messages"][1]["content"]).group(1))
    return Reply.json(
        {"verdicts": [{"index": i, "met": True, "rationale": "ok"} for i in range(1, n + 1)]}
    )


def rubric_items(n: int = 8) -> dict[str, Any]:
    """A valid drafting reply with n criteria in RaR's shape."""
    kinds = [
        ("Essential", 5, "States the key fact {i} that the reference answer gives."),
        ("Important", 4, "Explains the reasoning step {i} behind the conclusion."),
        ("Optional", 2, "Adds helpful context {i} for a lay reader."),
        ("Pitfall", -2, "Recommends the outdated treatment {i} as first line."),
    ]
    items = []
    for i in range(n):
        cat, weight, text = kinds[i % len(kinds)]
        items.append(
            {
                "title": f"{cat} point {i + 1}",
                "description": f"{cat} Criteria: {text.format(i=i + 1)}",
                "weight": weight,
            }
        )
    return {"criteria": items}


class ScriptedLLM:
    """The server. Use the `llm_server` fixture in tests; `start()`/`stop()` elsewhere."""

    def __init__(self, responder: Responder | None = None, *, model_ids: tuple[str, ...] = ("m",)):
        self.replies: deque[Reply] = deque()
        self.responder = responder
        self.requests: list[RecordedRequest] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._ids = itertools.count(1)
        self._model_ids = model_ids
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- scripting ---------------------------------------------------------
    def script(self, *replies: Reply) -> None:
        """Queue replies; they are used in order before the responder."""
        self.replies.extend(replies)

    def respond_with(self, responder: Responder) -> None:
        self.responder = responder

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _next(self, body: dict[str, Any]) -> Reply:
        if self.replies:
            return self.replies.popleft()
        if self.responder is not None:
            return self.responder(body)
        return Reply.error(500, "the test scripted no reply for this request")

    # --- HTTP --------------------------------------------------------------
    async def _chat(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "request body is not JSON")
        self.requests.append(RecordedRequest(request.path, _headers(request), body, _peer(request)))
        self._in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            reply = self._next(body)
            if reply.delay:
                await asyncio.sleep(reply.delay)
            if reply.status != 200:
                return _error(reply.status, reply.content or "", reply.headers)
            return web.json_response(self._completion(body, reply), headers=reply.headers)
        finally:
            self._in_flight -= 1

    def _completion(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        prompt_text = RecordedRequest("", {}, body).text
        prompt_tokens = reply.prompt_tokens
        if prompt_tokens is None:
            prompt_tokens = max(1, len(prompt_text) // 4)
        completion_tokens = reply.completion_tokens
        if completion_tokens is None:
            completion_tokens = max(1, len(reply.content or "") // 4)
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "m"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.content},
                    "finish_reason": reply.finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    async def _models(self, request: web.Request) -> web.Response:
        self.requests.append(RecordedRequest(request.path, _headers(request), {}))
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": "test"} for m in self._model_ids
        ]
        return web.json_response({"object": "list", "data": data})

    # --- lifecycle -----------------------------------------------------------
    def start(self, port: int = 0) -> ScriptedLLM:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        self.port = sock.getsockname()[1]
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        # A short shutdown timeout: a test that ends while a slow reply sleeps
        # should not wait for it.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        loop = self._loop = asyncio.new_event_loop()
        started = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.SockSite(runner, sock, backlog=2048).start())
            started.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, name="scripted-llm", daemon=True)
        self._thread.start()
        if not started.wait(timeout=10):
            raise RuntimeError("scripted LLM server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)


def _peer(request: web.Request) -> int:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return int(peer[1]) if peer else 0


def _headers(request: web.Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    kind = "rate_limit_exceeded" if status == 429 else "server_error"
    return web.json_response(
        {"error": {"message": message, "type": kind, "code": str(status)}},
        status=status,
        headers=headers or {},
    )


@pytest.fixture
def llm_server() -> Iterator[ScriptedLLM]:
    """A running scripted server; script it with `.script(...)` / `.respond_with(...)`."""
    server = ScriptedLLM().start()
    yield server
    server.stop()


def _main() -> None:
    parser = argparse.ArgumentParser(description="Serve canned rubric drafts after a delay.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.2, help="seconds before each reply")
    parser.add_argument("--items", type=int, default=12, help="criteria per drafted rubric")
    args = parser.parse_args()
    canned = Reply.json(rubric_items(args.items), delay=args.delay)
    server = ScriptedLLM(lambda _body: canned).start(args.port)
    print(server.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    _main()
