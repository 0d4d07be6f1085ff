"""Shared pieces for browser tests: the real app under `streamlit run` on a free
port, and Debian's Chromium driven by Playwright (never `playwright install`).

    from browser import StreamlitApp, chromium, sign_in

`chromium(tmp_path)` gives a page in a fresh profile in the test's tmp folder,
so no state leaks between tests or into the user's home.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Locator, Page, expect, sync_playwright

from rubricforge.cli import STREAMLIT_OPTIONS

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Wide enough for the editor beside the question. Streamlit scrolls its main area
# itself, so a full-page screenshot shows only what fits: ask for a taller one then.
VIEWPORT = {"width": 1920, "height": 1200}
STARTUP_SECONDS = 60.0


DOCS_SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def publish_screenshot(src: Path, name: str) -> None:
    """Copy a test's screenshot into docs/screenshots/ for the README's tour, only when
    RUBRICFORGE_DOCS_SCREENSHOTS=1: a plain test run must leave the checkout as it was."""
    if os.environ.get("RUBRICFORGE_DOCS_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, DOCS_SCREENSHOTS / name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class StreamlitApp:
    """`streamlit run webapp/server.py` (the app and its cookie routes) in a
    subprocess; its output goes to a log file (shown when it fails to start)."""

    def __init__(self, env: Mapping[str, str], log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        cmd = [
            sys.executable, "-m", "streamlit", "run", str(REPO / "webapp" / "server.py"),
            "--server.port", str(self.port), "--server.address", "127.0.0.1",
            *STREAMLIT_OPTIONS, "--server.fileWatcherType", "none",
        ]  # fmt: skip
        self._out = log.open("wb")
        self.process = subprocess.Popen(
            cmd, cwd=REPO, env={**os.environ, **env}, stdout=self._out, stderr=subprocess.STDOUT
        )
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"streamlit did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._out.close()


@contextmanager
def chromium(tmp_path: Path, viewport: Mapping[str, int] = VIEWPORT) -> Iterator[Page]:
    """A Chromium page in a throwaway profile under `tmp_path` (XDG folders too);
    20 s for expect() on a slow machine. Use it in a test module's fixture:

        @pytest.fixture
        def page(tmp_path): with chromium(tmp_path) as p: yield p
    """
    env = {var: tmp_path / var.lower() for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
    for folder in env.values():
        folder.mkdir(exist_ok=True)
    expect.set_options(timeout=20_000)
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=dict(viewport),  # type: ignore[arg-type]
            env={**os.environ, **{k: str(v) for k, v in env.items()}},
        )
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def wait_idle(page: Page) -> None:
    """Until Streamlit has finished the current run. Call it after seeing something
    the run shows (before that, the previous run's "not running" still holds)."""
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")


_WATCH_RUN_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  window.__rfRan = false;
  if (window.__rfSeen) window.__rfSeen.disconnect();
  window.__rfSeen = new MutationObserver(() => {
    if (app.getAttribute("data-test-script-state") === "running") window.__rfRan = true;
  });
  window.__rfSeen.observe(app, {attributes: true, attributeFilter: ["data-test-script-state"]});
}"""
_RUN_OVER_JS = """() => window.__rfRan && document.querySelector('[data-testid="stApp"]')
  .getAttribute("data-test-script-state") === "notRunning"
"""


def click_and_settle(page: Page, target: Locator) -> None:
    """Click something that reruns the script (a tab with on_change="rerun"), then
    wait until that rerun is over: typing into a form the rerun is still drawing
    can be lost when it redraws."""
    page.evaluate(_WATCH_RUN_JS)
    target.click()
    page.wait_for_function(_RUN_OVER_JS)


def sign_in(page: Page, app: StreamlitApp, username: str, password: str) -> None:
    page.goto(app.url)
    expect(page.get_by_role("heading", name="Sign in to rubricforge")).to_be_visible()
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_text(f"Signed in as {username}")).to_be_visible()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to rubricforge")).to_be_visible()


def choose(page: Page, label: str, option: str) -> None:
    """Pick the option containing `option` in the Streamlit selectbox `label`."""
    box = page.get_by_role("combobox", name=label)
    box.click()
    box.fill(option)
    page.get_by_role("option").filter(has_text=option).first.click()
    wait_idle(page)


ROW_HEIGHT = 35  # glide-data-grid rows in st.data_editor, header row included
ATTEMPTS = 5


def edit_cell(page: Page, index: int, row: int, x: float, right: int, value: str) -> str:
    """Type `value` into a cell of an st.data_editor, a canvas grid; returns the
    cell's value before the edit (check it to know the right cell was hit).

    Click the cell at `x` px in the first data row, move down to data row `row`
    (0-based) and `right` cells with the arrow keys (the grid scrolls to them) and
    press Enter: the grid opens its
    cell editor, the one part of it in the DOM. A click that lands while the grid
    is still laying out is lost, so that step is repeated (Escape in between)
    until the editor opens.
    """
    grid = page.get_by_test_id("stDataFrame").nth(index)
    cell_editor = page.get_by_test_id("portal").locator("input.gdg-input, textarea")
    expect(grid).to_be_visible()
    for attempt in range(ATTEMPTS):
        # The first data row's top edge, then down: rows may be taller than 35 px
        # (the editor's grid wraps long text), so `row` is reached with the keys.
        grid.click(position={"x": x, "y": ROW_HEIGHT + 8})
        for _ in range(row):
            page.keyboard.press("ArrowDown")
        for _ in range(right):
            page.keyboard.press("ArrowRight")
        page.keyboard.press("Enter")
        try:
            expect(cell_editor).to_be_visible(timeout=2_000)
            break
        except AssertionError:
            if attempt == ATTEMPTS - 1:
                raise
            page.keyboard.press("Escape")
    before = cell_editor.input_value()
    cell_editor.fill(value)
    cell_editor.press("Enter")
    expect(cell_editor).to_have_count(0)
    wait_idle(page)
    return before
