"""How a judge batch is paced: keys looked up in growing chunks, a few judgments
ready beyond the requests in flight, cache rows written in batches while judging."""

from __future__ import annotations

from collections.abc import Iterator

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
