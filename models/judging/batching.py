"""How a judge batch is paced: keys looked up in growing chunks, a few judgments
ready beyond the requests in flight, cache rows written in batches while judging."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Iterator

from rubricforge.models.llm.client import LLMClient

WRITE_BATCH = 256  # cache rows per INSERT while a batch is still judging


def ready_ahead(concurrency: int) -> int:
    """Judgments prepared beyond the requests in flight (a quarter more)."""
    return -(-concurrency // 4)


def chunks(n: int, first: int) -> Iterator[tuple[int, int]]:
    """[lo, hi) spans over n items: `first` items, then each chunk twice the last,
    so a batch of n is looked up in about log2(n / first) queries."""
    lo, size = 0, max(first, 1)
    while lo < n:
        yield lo, min(n, lo + size)
        lo, size = lo + size, size * 2


class LoopClients:
    """One LLM client per event loop, kept from batch to batch.

    TRL runs an async reward function on one event loop for the whole run, so a
    kept client keeps its connections (and TLS sessions) open from step to step
    instead of opening `concurrency` new ones every step. A kept client is closed
    when its loop shuts down its async generators: asyncio.run does, and the
    trainer does for TRL's loop before stopping it.
    """

    def __init__(self) -> None:
        self._kept: dict[asyncio.AbstractEventLoop, tuple[LLMClient, AsyncGenerator[None]]] = {}

    async def get(self, make: Callable[[], LLMClient]) -> LLMClient:
        loop = asyncio.get_running_loop()
        kept = self._kept.get(loop)
        if kept is None:
            client = make()
            closer = self._closer(loop, client)
            await anext(closer)  # now the loop's: shutdown_asyncgens() will close it
            kept = self._kept[loop] = (client, closer)
        return kept[0]

    async def _closer(
        self, loop: asyncio.AbstractEventLoop, client: LLMClient
    ) -> AsyncGenerator[None]:
        try:
            yield
        finally:
            self._kept.pop(loop, None)
            await client.aclose()
