"""A small process-wide memo for pure figures computed from rows just read.

The agreement dashboard and the judge leaderboard rerun their whole script on every
click (a tab, a radio button, the drill-down's page number), and each run used to
recompute the same bootstrap intervals from the same rows: at RaR scale (1M
verdicts, 20k labels) a few hundred milliseconds of every rerun. Pages still read
the rows from the database on every run, so nothing shown can be stale; only the
pure computation (`build_report`, `rank_judges`) is skipped when the rows, and
every argument, are exactly what they were: the key is a digest of every value
of every row, taken in any order.

The rows themselves (`as_of_snapshot`) are reused only while the database is
provably unchanged: keyed on PostgreSQL's snapshot (`pg_current_snapshot()`:
xmin, xmax and the transactions in progress). Two equal snapshots mean no
transaction committed, aborted or began writing in between, so every row of every
table reads the same; any write anywhere (a label, a judge run, an edit) makes a
new snapshot and the rows are read again. The key also names the server and
database, so two databases never share rows.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

T = TypeVar("T")
SIZE = 32  # results kept, least recently used first out; each is a few kB
ROWS_SIZE = 8  # row frames kept: a few MB each at RaR scale

_memo: OrderedDict[Hashable, object] = OrderedDict()
_rows: OrderedDict[Hashable, object] = OrderedDict()
_lock = threading.Lock()

# The snapshot, and where it is from. pg_postmaster_start_time and the port tell two
# servers apart (each counts transactions from its own start); a transaction that
# has written reads its own uncommitted rows, which may yet be rolled back, so its
# reads are never kept.
_SNAPSHOT = text(
    "SELECT current_database(), inet_server_port(), pg_postmaster_start_time()::text, "
    "pg_current_snapshot()::text, pg_current_xact_id_if_assigned() IS NULL"
)


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
    return _lookup(_memo, SIZE, key, compute)


def as_of_snapshot(
    session: Session, key: Hashable, read: Callable[[], pd.DataFrame]
) -> pd.DataFrame:
    """read(), or a copy of the frame it returned under the same key while the
    database was exactly as it is now (see the module docstring)."""
    *where, snapshot, clean = session.execute(_SNAPSHOT).one()
    if not clean:
        return read()
    frame = _lookup(_rows, ROWS_SIZE, (key, *where, snapshot), read)
    return frame.copy()  # callers may add columns; the kept frame stays as read


def _lookup(
    table: OrderedDict[Hashable, object], size: int, key: Hashable, compute: Callable[[], T]
) -> T:
    with _lock:
        if key in table:
            table.move_to_end(key)
            return table[key]  # type: ignore[return-value]
    value = compute()  # outside the lock: two first callers may both compute, harmlessly
    with _lock:
        table[key] = value
        table.move_to_end(key)
        while len(table) > size:
            table.popitem(last=False)
    return value


def clear() -> None:
    """Forget every result and every kept row (benchmarks time the work itself)."""
    with _lock:
        _memo.clear()
        _rows.clear()
