"""Page-to-page navigation in a real Chromium: the time from a click on a page's link
in the sidebar until the page has finished, as the browser sees it.

    python bench/page_timings.py                   # demo workspace, 3 visits per page
    python bench/page_timings.py --rounds 5 --database-url postgresql://...

Loads the demo workspace (`rubricforge demo`'s data) into a throwaway embedded
PostgreSQL (or a scratch database at --database-url), runs the app as the browser
tests do (tests/browser.py: `streamlit run webapp/server.py`, Debian's
/usr/bin/chromium driven by Playwright), signs in as the role that uses each page
and visits every page of the sidebar in turn, `--rounds` times.

One figure is measured inside the page with performance.now(): from the click on
the link until Streamlit's script state (the stApp element's
data-test-script-state) has been "running" and is "notRunning" again, the URL is
the page's, its main element is visible, and the browser has painted the next frame
after that. Target: every page <= 1 s (median of the visits).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(1, str(REPO / "tests"))
sys.path.insert(1, str(REPO / "bench"))

import agreement as agreement_bench  # noqa: E402  (bench/agreement.py: scratch databases)
from browser import StreamlitApp, chromium, sign_in, sign_out, wait_idle  # noqa: E402
from playwright.sync_api import Page  # noqa: E402
from rubricforge.models.core import migrate  # noqa: E402
from rubricforge.models.core.db import normalize_url  # noqa: E402
from rubricforge.models.core.embedded import EmbeddedServer  # noqa: E402
from rubricforge.models.demo.loader import load_demo  # noqa: E402
from sqlalchemy import create_engine  # noqa: E402

PAGE_LIMIT_S = 1.0
PASSWORD = "bench horse battery staple"
# The role that uses each page (by its title in the sidebar); the rest: the researcher.
ROLE_OF = {
    "Overview": "expert1",
    "Prompts": "expert1",
    "Editor": "expert1",
    "History": "expert1",
    "Adjudication": "expert1",
    "Spot-check": "annotator1",
    "Admin": "admin",
}
DEFAULT_USER = "researcher1"
ORDER = ["expert1", "researcher1", "annotator1", "admin"]

# Clicks the link, then resolves with the milliseconds until the run is over (see the
# module docstring); rejects after 60 s.
# The sidebar's page links: st.navigation's menu, or a role's own menu of st.page_link
# (an annotator's three pages).
LINKS = (
    '[data-testid="stSidebarNavLink"], [data-testid="stSidebar"] [data-testid="stPageLink-NavLink"]'
)
NAVIGATE_JS = """
async (href) => {
  const LINKS = '__LINKS__';
  const app = document.querySelector('[data-testid="stApp"]');
  const link = [...document.querySelectorAll(LINKS)]
    .find((a) => a.getAttribute("href") === href);
  if (!link) throw new Error("no link " + href);
  // A link to the default page has an empty href: that page is the app's root.
  const target = href ? new URL(href, location.href).pathname : "/";
  let sawRunning = false;
  const t0 = performance.now();
  const done = () => {
    if (app.getAttribute("data-test-script-state") === "running") sawRunning = true;
    const main = document.querySelector('[data-testid="stMain"]');
    return sawRunning && app.getAttribute("data-test-script-state") === "notRunning"
      && location.pathname === target && main !== null && main.offsetParent !== null;
  };
  return await new Promise((resolve, reject) => {
    const finish = () => requestAnimationFrame(() => requestAnimationFrame(
      () => resolve(performance.now() - t0)));
    const observer = new MutationObserver(() => {
      if (done()) { observer.disconnect(); clearInterval(poll); finish(); }
    });
    observer.observe(app, {attributes: true, attributeFilter: ["data-test-script-state"]});
    const poll = setInterval(() => {
      if (done()) { observer.disconnect(); clearInterval(poll); finish(); }
    }, 5);
    setTimeout(() => { observer.disconnect(); clearInterval(poll);
      reject(new Error("timed out on " + href)); }, 60000);
    link.click();
  });
}
""".replace("__LINKS__", LINKS)


def nav_links(page: Page) -> list[tuple[str, str]]:
    """(title, href) of every page in the sidebar."""
    links = page.locator(LINKS)
    out = []
    for i in range(links.count()):
        link = links.nth(i)
        out.append((link.inner_text().strip().splitlines()[-1], link.get_attribute("href") or ""))
    return out


def time_role(page: Page, user: str, rounds: int) -> dict[str, list[float]]:
    """Seconds per visit of each page that `user` is the one to time, visited in turn."""
    links = nav_links(page)
    mine = [(t, h) for t, h in links if ROLE_OF.get(t.split(" · ")[0], DEFAULT_USER) == user]
    times: dict[str, list[float]] = {t: [] for t, _ in mine}
    others = [(t, h) for t, h in links if (t, h) not in mine]
    for _ in range(rounds):
        for title, href in mine:
            if len(mine) == 1 and others:  # leave the page first: a visit is a navigation
                page.evaluate(NAVIGATE_JS, others[0][1])
            times[title].append(page.evaluate(NAVIGATE_JS, href) / 1000)
            wait_idle(page)
    return times


def load_avg() -> float:
    return os.getloadavg()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="visits per page")
    parser.add_argument("--database-url", help="default: a throwaway embedded server in /tmp")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="rf-bench-pages-", dir="/tmp"))
    server = None if args.database_url else EmbeddedServer(work / "pg")
    base = normalize_url(args.database_url) if server is None else server.ensure_running()
    url, drop = agreement_bench.scratch_database(base)
    app = None
    try:
        migrate.upgrade(url)
        engine = create_engine(url)
        load_demo(engine, password=PASSWORD)
        engine.dispose()
        env = {"DATABASE_URL": url, "RUBRICFORGE_HOME": str(work / "home")}
        app = StreamlitApp(env, work / "streamlit.log")
        load_before = load_avg()
        results: dict[str, tuple[str, list[float]]] = {}
        with chromium(work) as page:
            for user in ORDER:
                sign_in(page, app, user, PASSWORD)
                wait_idle(page)
                started = time.perf_counter()
                for title, times in time_role(page, user, args.rounds).items():
                    results[title] = (user, times)
                print(f"  {user}: {time.perf_counter() - started:.1f} s", flush=True)
                sign_out(page)
        load_after = load_avg()
    finally:
        if app is not None:
            app.stop()
        drop()
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n{'page (user)':<40}{'median s':>9}{'max s':>8}  target")
    ok = True
    for title, (user, times) in results.items():
        median = statistics.median(times)
        ok = ok and median <= PAGE_LIMIT_S
        flag = "" if median <= PAGE_LIMIT_S else "  MISSED"
        name = f"{title} ({user})"
        print(f"{name:<40}{median:>9.2f}{max(times):>8.2f}  <= {PAGE_LIMIT_S:g} s{flag}")
    print(
        f"({args.rounds} visits per page, click to finished run in Chromium; "
        f"{os.cpu_count()} cores, load average {load_before:.2f} before, {load_after:.2f} after)"
    )
    print(f"page target {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
