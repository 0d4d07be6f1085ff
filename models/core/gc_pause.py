"""Full garbage collections kept off a batch of concurrent requests.

A full (oldest-generation) collection walks every tracked object in the process:
~100 ms with the openai client, pydantic and SQLAlchemy loaded, far more in a
trainer holding torch and transformers. A batch of judgments keeps thousands of
results alive, which is exactly what triggers full collections, and each one
stalls every request in flight: 64 judge calls waiting 100 ms each time.

`old_objects_frozen()` moves the objects that exist when a batch starts out of the
collector's sight (`gc.freeze`) and back when the last overlapping batch ends
(`gc.unfreeze`). Young objects, the batch's own garbage among them, are still
collected as usual; old garbage waits until the batch ends. Correctness never
depends on it: only when cycles are collected changes.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_active = 0


@contextmanager
def old_objects_frozen() -> Iterator[None]:
    global _active
    with _lock:
        _active += 1
        if _active == 1:
            gc.freeze()
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                gc.unfreeze()
