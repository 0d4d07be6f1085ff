"""A small process-wide memo for pure figures computed from rows just read.

The agreement dashboard and the judge leaderboard rerun their whole script on every
click (a tab, a radio button, the drill-down's page number), and each run used to
recompute the same bootstrap intervals from the same rows: at RaR scale (1M
verdicts, 20k labels) a few hundred milliseconds of every rerun. Pages still read
the rows from the database on every run, so nothing shown can be stale; only the
pure computation (`build_report`, `rank_judges`) is skipped when the rows, and
every argument, are exactly what they were: the key is a digest of every value
of every row, taken in any order.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

import numpy as np
import pandas as pd

T = TypeVar("T")
SIZE = 32  # results kept, least recently used first out; each is a few kB

_memo: OrderedDict[Hashable, object] = OrderedDict()
_lock = threading.Lock()


def frames_digest(*frames: pd.DataFrame) -> str:
    """A digest of the frames' columns, types and values, whatever the row order
    (a query without ORDER BY may return the same rows in another order)."""
    digest = hashlib.blake2b(digest_size=20)
    for frame in frames:
        digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
        rows = pd.util.hash_pandas_object(frame, index=False).to_numpy()
        digest.update(np.sort(rows).tobytes())
    return digest.hexdigest()


def memoized(key: Hashable, compute: Callable[[], T]) -> T:
    """compute(), or what it returned for the same key. Values must be immutable
    (frozen dataclasses of tuples): every caller shares them."""
    with _lock:
        if key in _memo:
            _memo.move_to_end(key)
            return _memo[key]  # type: ignore[return-value]
    value = compute()  # outside the lock: two first callers may both compute, harmlessly
    with _lock:
        _memo[key] = value
        _memo.move_to_end(key)
        while len(_memo) > SIZE:
            _memo.popitem(last=False)
    return value


def clear() -> None:
    """Forget every result (benchmarks time the computation itself with this)."""
    with _lock:
        _memo.clear()
