"""Pieces for the fault tests (test_faults.py): a PostgreSQL server of the test's
own to stop and start under running processes, a port nobody listens on, and
waiting for a condition.

The shared test server (conftest.py) is never touched: other tests' databases
live there. `Throwaway` runs the same embedded binaries, driven by pg_ctl the way
models/core/embedded.py does, in a temporary folder, on a port that stays the same
across restarts (clients reconnect to the same URL, as after a real restart).
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from rubricforge.models.core import migrate
from rubricforge.models.core.embedded import EmbeddedServer
from sqlalchemy.exc import OperationalError

T = TypeVar("T")


class Throwaway:
    """A migrated embedded PostgreSQL server for one test; `stop`, `start`, `outage`."""

    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="rf-fault-pg-"))
        self.server = EmbeddedServer(self.home)
        self.url = self.server.ensure_running()
        migrate.upgrade(self.url)
        port = self.server.port()
        assert port is not None
        self.port = port

    def _pg_ctl(self, *args: str) -> None:
        s = self.server
        # -l: the server's output goes to the log, not to our pipe (else pg_ctl's
        # caller waits for a pipe the server keeps open).
        res = s._run(s._bin("pg_ctl"), "-D", str(s.pgdata), "-w", "-l", str(s.log), *args)
        assert res.returncode == 0, f"pg_ctl {' '.join(args)}: {res.stderr}{res.stdout}"

    def stop(self) -> None:
        """Like a restart's first half: `-m fast` ends every client's connection."""
        self._pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        """Back on the same port."""
        self._pg_ctl("-o", f"-h 127.0.0.1 -p {self.port} -k {self.server.pgdata}", "start")

    def restart(self) -> None:
        self._pg_ctl("-m", "fast", "restart")

    def outage(self, until: Callable[[], bool], at_most: float = 60) -> threading.Thread:
        """Stop now; start again in the background once `until()` holds (e.g. the
        client under test was seen failing), or after `at_most` seconds."""
        self.stop()

        def back() -> None:
            deadline = time.monotonic() + at_most
            while not until() and time.monotonic() < deadline:
                time.sleep(0.05)
            self.start()

        thread = threading.Thread(target=back, name="pg-outage", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        if self.server.port() is not None:
            self.server.stop()
        shutil.rmtree(self.home, ignore_errors=True)


def closed_port_url() -> str:
    """A /v1 base URL on 127.0.0.1 where nothing listens: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def wait_for(
    what: str, check: Callable[[], T | None], timeout: float = 60, every: float = 0.2
) -> T:
    """Poll `check` until it returns something truthy; a database that is down
    meanwhile (OperationalError) counts as 'not yet'."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except OperationalError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)
