"""The Training page in a real Chromium: a researcher signs in, opens Training and sees
the reward curve of a job that has logged steps (metric rows written as the trainer's
callback writes them; the worker path itself is tested in test_trainer_run.py)."""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import publish_screenshot
from rubricforge.models.training.jobs import SAMPLES_KEY
from rubricforge.models.training.orm import TrainingMetric
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from training_support import confusion, seed_snapshot, spotchecks, submit
from webapp_support import PASSWORD, add_account

from rubricforge.cli import STREAMLIT_OPTIONS

pytestmark = [pytest.mark.db, pytest.mark.browser]

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
STEPS = 30


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served_app(db_url: str, tmp_path: Path) -> Iterator[str]:
    """`streamlit run webapp/server.py` on the test database; its base URL."""
    port = _free_port()
    log = (tmp_path / "streamlit.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO / "webapp" / "server.py"),
         "--server.port", str(port), "--server.address", "127.0.0.1", *STREAMLIT_OPTIONS],
        cwd=REPO, env={**os.environ, "DATABASE_URL": db_url}, stdout=log, stderr=log,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.25)
        else:
            pytest.fail(f"streamlit did not start: {(tmp_path / 'streamlit.log').read_text()}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def curve(step: int) -> dict[str, float]:
    """A plausible run: reward rising, KL growing, pitfalls falling, a judge hiccup."""
    rise = 1 - math.exp(-step / 10)
    return {
        "reward": round(0.30 + 0.45 * rise, 4),
        "reward_std": round(0.18 - 0.06 * rise, 4),
        "kl": round(0.002 * step, 4),
        "completions/mean_length": 180.0 + 4 * step,
        "judge/failures": float(step in (12, 13)),
        "judge/failures_total": float(min(max(step - 11, 0), 2)),
        "rubric/essential_met_rate": round(0.40 + 0.40 * rise, 4),
        "rubric/important_met_rate": round(0.35 + 0.30 * rise, 4),
        "rubric/optional_met_rate": round(0.20 + 0.20 * rise, 4),
        "rubric/pitfall_hit_rate": round(0.30 - 0.20 * rise, 4),
        "frac_reward_zero_std": round(0.25 - 0.15 * rise, 4),
        "step_time": 41.0 + (step % 3),
        "judge/wall_s": 6.0 + (step % 2),
    }


def test_training_page_shows_the_reward_curve(
    served_app: str, db_url: str, engine: Engine, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    world = seed_snapshot(engine, prompts=6, criteria=8)
    spotchecks(engine, world, confusion(tn=18, fp=2, fn=2, tp=18))  # kappa 0.8: passes
    job_id = submit(engine, world, max_steps=STEPS)
    expected = [curve(step) for step in range(1, STEPS + 1)]
    sample = {
        "prompt": "Question 0: what should a clinician do?",
        "completion": "Secure the airway, then give oxygen.",
        "reward": 0.82,
        "ok": True,
        "error": None,
        "rating": None,
        "verdicts": [
            {"title": "Airway first", "category": "Essential", "weight": 5.0, "met": True,
             "rationale": "Secures the airway first."},
        ],
    }  # fmt: skip
    with Session(engine) as s, s.begin():
        for step, values in enumerate(expected, start=1):
            extra = {SAMPLES_KEY: [sample]} if step == STEPS else {}
            s.add(TrainingMetric(job_id=job_id, step=step, values={**values, **extra}))
        # A worker has it: claimed 25 minutes ago (the live curves refresh while it runs).
        s.execute(
            text(
                "UPDATE training_jobs SET status = 'running', attempts = 1, "
                "worker_id = 'gpu-node-1-4242', started_at = now() - interval '25 minutes', "
                "heartbeat_at = now() WHERE id = :i"
            ),
            {"i": job_id},
        )
    add_account(db_url, "rita", "researcher")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1500, "height": 1500})
        page.goto(served_app, wait_until="networkidle")
        page.get_by_label("Username").fill("rita")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("Signed in as rita").wait_for(timeout=30_000)
        # Through the navigation: a fresh page load would be a new, signed-out session.
        page.get_by_role("link", name="Training").click()
        page.get_by_text(f"Job {job_id}: running").wait_for(timeout=30_000)
        chart = page.locator(".js-plotly-plot").first
        chart.wait_for(timeout=30_000)
        page.wait_for_function(
            "() => document.querySelectorAll('.js-plotly-plot .scatterlayer .trace').length > 0"
        )
        # What the browser plotted is what the trainer logged.
        drawn = chart.evaluate(
            "el => el.data.filter(t => t.name === 'reward mean').map(t => [t.x, t.y])[0]"
        )
        assert drawn[0] == list(range(1, STEPS + 1))
        assert drawn[1] == pytest.approx([v["reward"] for v in expected])
        assert "Reward" in chart.inner_text() and "Rubric rates" in chart.inner_text()
        assert page.get_by_text("Agreement gate: Cohen's kappa 0.80").is_visible()
        page.screenshot(path=str(tmp_path / "training.png"), full_page=True)
        browser.close()
    assert (tmp_path / "training.png").stat().st_size > 10_000
    publish_screenshot(tmp_path / "training.png", "training.png")


def test_editing_the_new_job_form_keeps_the_researcher_on_it(
    served_app: str, db_url: str, engine: Engine, tmp_path: Path
) -> None:
    """With st.tabs every rerun (each edit) showed the Jobs tab again."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    seed_snapshot(engine, prompts=2, criteria=4)
    add_account(db_url, "rita", "researcher")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1500, "height": 1500})
        page.goto(served_app, wait_until="networkidle")
        page.get_by_label("Username").fill("rita")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("Signed in as rita").wait_for(timeout=30_000)
        page.get_by_role("link", name="Training").click()
        page.get_by_text("No training jobs yet").wait_for(timeout=30_000)
        segment = page.locator('[data-testid="stButtonGroup"] button')
        segment.filter(has_text="New job").click()
        steps = page.get_by_role("spinbutton", name="Max steps")
        steps.wait_for(timeout=30_000)
        steps.fill("42")
        steps.press("Enter")  # a rerun
        page.get_by_role("spinbutton", name="Learning rate").fill("0.00001")
        page.get_by_role("spinbutton", name="Learning rate").press("Enter")  # another
        page.wait_for_timeout(1500)
        assert page.get_by_role("button", name="Submit job").is_visible()
        assert page.get_by_role("spinbutton", name="Max steps").input_value() == "42"
        assert not page.get_by_text("No training jobs yet").is_visible()
        segment.filter(has_text="YAML (advanced)").click()
        page.get_by_role("textbox", name="Config (YAML or JSON)").wait_for(timeout=30_000)
        assert (
            "max_steps: 42"
            in page.get_by_role("textbox", name="Config (YAML or JSON)").input_value()
        )
        browser.close()
