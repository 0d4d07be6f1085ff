"""The server imports every page's modules at start-up, in the background, so the
first visitor to a page does not wait for its imports (webapp/preload.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rubricforge.webapp import preload

SERVER = Path(preload.__file__).with_name("server.py")


def test_every_page_import_is_listed_once() -> None:
    names = preload.view_imports()
    assert len(names) == len(set(names))
    # The Editor's revision requests: the import that cost its first visit ~1 s.
    assert "rubricforge.models.agreement.revision" in names
    assert "streamlit" in names


def test_loading_the_server_preloads_the_pages_in_the_background() -> None:
    """In a fresh interpreter: loading server.py (what `streamlit run` does) starts
    the preload thread, and when it is done the pages' heavy modules are in."""
    code = f"""
import runpy, sys, threading
runpy.run_path({str(SERVER)!r})
[t] = [t for t in threading.enumerate() if t.name == "rubricforge-preload"]
assert t.daemon
t.join(120)
missing = [m for m in {preload.view_imports()!r} if m not in sys.modules]
assert not missing, missing
print("ok")
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=180, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")
