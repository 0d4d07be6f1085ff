"""Preference pairs from the Data page (AppTest) and the CLI, on the hand-counted
snapshot of `pairs_support.judged_snapshot` (3 pairs, 1 tie)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pairs_support import judged_snapshot
from rubricforge.webapp.components.pairs import PAIRS_KEY
from sqlalchemy import Engine
from typer.testing import CliRunner
from webapp_support import add_account, app_as, click, has, widget

from rubricforge.cli import app

pytestmark = pytest.mark.db


def test_a_researcher_downloads_the_dpo_pairs(app_db: str, engine: Engine) -> None:
    snapshot, (explicit, _) = judged_snapshot(engine)
    rita = add_account(app_db, "rita", "researcher")
    at = app_as(rita, "views/data.py")
    click(at, "Build preference pairs")
    assert [b.label for b in at.get("download_button")][-2:] == [
        "Download DPO pairs (JSONL)",
        "Download ranked list (JSONL)",
    ]
    wanted, summary, pairs, ranked = at.session_state[PAIRS_KEY]
    assert wanted == (snapshot, 0, 0.0)
    assert summary.startswith("3 preference pairs from 5 scored responses to 2 prompts")
    rows = [json.loads(line) for line in pairs.decode().splitlines()]
    assert [(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in rows] == [
        ("A", "B"),
        ("A", "C"),
        ("D", "E"),
    ]
    assert rows[0]["margin"] == pytest.approx(0.5)
    assert len(ranked.decode().splitlines()) == 2
    # A minimum margin of 0.3 drops D over E (0.2); the old files are not offered for it.
    widget(at, "number_input", "Minimum margin").set_value(0.3).run()
    assert "Download DPO pairs (JSONL)" not in [b.label for b in at.get("download_button")]
    click(at, "Build preference pairs")
    assert at.session_state[PAIRS_KEY][1].startswith("2 preference pairs")
    # One run's scores only: run 1 ranks E (0.8) over D (0.3).
    widget(at, "selectbox", "Scores").set_value(explicit).run()
    click(at, "Build preference pairs")
    last = json.loads(at.session_state[PAIRS_KEY][2].decode().splitlines()[-1])
    assert (last["chosen"][0]["content"], last["rejected"][0]["content"]) == ("E", "D")


def test_an_annotator_is_not_offered_pairs(app_db: str, engine: Engine) -> None:
    judged_snapshot(engine)
    ann = add_account(app_db, "ann", "annotator")
    at = app_as(ann, "views/data.py")
    assert not has(at, "button", "Build preference pairs")


def test_cli_writes_the_pairs_and_refuses_a_bad_margin(
    app_db: str, engine: Engine, tmp_path: Path
) -> None:
    snapshot, _ = judged_snapshot(engine)
    out = tmp_path / "pairs"
    base = ["responses", "pairs", "--snapshot", str(snapshot), "--out", str(out)]
    bad = CliRunner().invoke(app, [*base, "--min-margin", "-1"])
    assert bad.exit_code == 1 and "minimum margin" in bad.output and not out.exists()
    done = CliRunner().invoke(app, base)
    assert done.exit_code == 0, done.output
    assert "3 preference pairs" in done.output
    assert len((out / "dpo_pairs.jsonl").read_text().splitlines()) == 3
    assert len((out / "ranked.jsonl").read_text().splitlines()) == 2
