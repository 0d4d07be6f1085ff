"""The journey's judge-checks leg, in a real Chromium, as a researcher: the
self-preference column on the Leaderboard, a reward-hacking probe the judge rewards in
the editor's rubric check, and the DPO pairs downloaded from the Data page (the file's
rows checked). Its own world (judges and policies of known families, a judged
snapshot), so it runs apart from test_browser_journey.py's demo workspace."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import StreamlitApp, chromium, sign_in, wait_idle
from llm_server import Reply, ScriptedLLM
from pairs_support import judged_snapshot
from playwright.sync_api import Page, expect
from rubricforge.models.accounts.auth import set_password
from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.llm.endpoints import save_endpoint
from rubricforge.models.rubrics.orm import Prompt
from self_preference_support import GPT, build
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

pytestmark = [pytest.mark.db, pytest.mark.browser]
PASSWORD = "correct horse battery"
FENCED = re.compile(r"<<<RESPONSE \w+\n(.*)\nRESPONSE \w+>>>", re.S)


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("no Chromium at /usr/bin/chromium")
    with chromium(tmp_path) as p:
        yield p


def open_page(page: Page, name: str, heading: str) -> None:
    page.get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", name=heading)).to_be_visible()
    wait_idle(page)


def keyword_fooled_judge(reference: str) -> Any:
    """Passes the reference and, wrongly, any bare comma list (the keywords probe)."""

    def judge(body: dict[str, Any]) -> Reply:
        text = body["messages"][-1]["content"]
        n = int(re.search(r"RUBRIC \((\d+) criteria\)", text).group(1))
        fenced = FENCED.search(text).group(1)
        good = fenced == reference or ("," in fenced and "." not in fenced)
        pitfalls = {int(i) for i in re.findall(r"^(\d+)\. \[Pitfall\]", text, re.M)}
        verdicts = [{"index": i, "met": (not good) if i in pitfalls else good, "rationale": "-"}
                    for i in range(1, n + 1)]  # fmt: skip
        return Reply.json({"verdicts": verdicts})

    return judge


def test_a_researcher_sees_self_preference_a_hacking_probe_and_downloads_dpo_pairs(
    db_url: str, engine: Engine, page: Page, tmp_path: Path, llm_server: ScriptedLLM
) -> None:
    with Session(engine) as s, s.begin():
        build(s)  # dataset "med": the hand-counted self-preference world
        set_password(s, "rita", PASSWORD, actor=OPERATOR)
        save_endpoint(s, OPERATOR, "local", base_url=llm_server.base_url, model="judge-m",
                      api_key_env=None)  # fmt: skip
        prompt_id, reference = s.execute(
            select(Prompt.id, Prompt.reference_answer).order_by(Prompt.id)
        ).one()
    snapshot, _ = judged_snapshot(engine, dataset="pairs")  # 3 pairs, 1 tie
    llm_server.respond_with(keyword_fooled_judge(reference))
    app = StreamlitApp({"DATABASE_URL": db_url}, tmp_path / "streamlit.log")
    try:
        sign_in(page, app, "rita", PASSWORD)

        open_page(page, "Leaderboard", "Judge leaderboard")
        expect(page.get_by_text("Self-preference: own family vs other families")).to_be_visible()
        board = page.get_by_test_id("stDataFrame").first
        expect(board).to_contain_text("Self-preference (FP rate)")
        expect(board).to_contain_text("own 0.67 vs other 0.25 (x2.67)")
        expect(board).to_contain_text(f"{GPT} (explicit)")
        page.screenshot(path=str(tmp_path / "leaderboard.png"), full_page=True)

        page.goto(f"{app.url}/editor?prompt={prompt_id}")
        expect(page.get_by_text("Rubric check: does this rubric rank")).to_be_visible()
        wait_idle(page)
        page.get_by_text("Rubric check: does this rubric rank").click()
        page.get_by_role("button", name="Run the rubric check").click()
        expect(
            page.get_by_text("The judge rewards 1 hacking probe(s): bare keyword list.")
        ).to_be_visible(timeout=60_000)
        probes = page.get_by_test_id("stDataFrame").last
        expect(probes).to_contain_text("bare keyword list")
        expect(probes).to_contain_text("YES")
        page.screenshot(path=str(tmp_path / "probes.png"), full_page=True)

        open_page(page, "Data", "Data")
        page.get_by_role("tab", name="Export snapshots").click()
        wait_idle(page)
        page.get_by_role("button", name="Build preference pairs").click()
        download = page.get_by_role("button", name=re.compile("Download DPO pairs"))
        expect(download).to_be_visible()
        with page.expect_download() as info:
            download.click()
        path = info.value.path()
        rows = [json.loads(line) for line in Path(path).read_text().splitlines()]
        assert [(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in rows] == [
            ("A", "B"),
            ("A", "C"),
            ("D", "E"),
        ]
        assert all(r["margin"] > 0 and r["prompt"][0]["role"] == "user" for r in rows)
        assert info.value.suggested_filename == f"snapshot-{snapshot}-dpo_pairs.jsonl"
    finally:
        app.stop()
