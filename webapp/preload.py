"""Import what the pages import while the server waits for its first visitor.

Streamlit runs a page's script, and so imports its modules, on the first visit
to that page in the server's life. Some pull in most of the scientific stack
(the Editor's revision requests import the agreement statistics: pandas, scipy,
scikit-learn, ~1 s), so the first visitor to such a page waited for imports, not
for their page. `rubricforge serve` starts `preload()` in a background thread at
start-up instead; a page visited before it is done waits only for the modules
still loading (Python's import lock makes a second importer wait, not fail).
"""

from __future__ import annotations

import ast
import importlib
import logging
import threading
from pathlib import Path

log = logging.getLogger(__name__)
VIEWS = Path(__file__).with_name("views")


def view_imports() -> list[str]:
    """The absolute imports of every page script, in file order, each once."""
    names: dict[str, None] = {}
    for view in sorted(VIEWS.glob("*.py")):
        for node in ast.parse(view.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names[node.module] = None
            elif isinstance(node, ast.Import):
                names.update((a.name, None) for a in node.names)
    return list(names)


def preload() -> None:
    """Import every page's modules (a failure is logged: the page will show it)."""
    for name in view_imports():
        try:
            importlib.import_module(name)
        except Exception:
            log.exception("preloading %s failed", name)


def preload_in_background() -> threading.Thread:
    thread = threading.Thread(target=preload, name="rubricforge-preload", daemon=True)
    thread.start()
    return thread
