"""The self-preference figures on the Leaderboard and Agreement pages (AppTest, real
Postgres): the counts are `self_preference_support.build`'s, made by hand."""

from __future__ import annotations

import pytest
from self_preference_support import GPT, QWEN, build
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from webapp_support import app_as, shown

pytestmark = pytest.mark.db


def test_the_leaderboard_and_agreement_show_each_judges_self_preference(
    app_db: str, engine: Engine
) -> None:
    with Session(engine) as s, s.begin():
        w = build(s)
        rita = w.users["rita"].id
    at = app_as(rita, "views/leaderboard.py")
    board = at.dataframe[0].value.set_index("Judge")
    assert board.loc[f"{GPT} (explicit)", "Self-preference (FP rate)"] == (
        "own 0.67 vs other 0.25 (x2.67)"
    )
    assert board.loc[f"{QWEN} (explicit)", "Self-preference (FP rate)"] == "own 0.50 vs other 0.00"
    assert board.loc[f"{GPT} (implicit)", "Self-preference (FP rate)"] == "n/a"
    detail = at.dataframe[-1].value.set_index("Judge")
    assert detail.loc[f"{GPT} (explicit)", "Ratio own / other"] == pytest.approx(8 / 3)
    assert detail.loc[f"{GPT} (explicit)", "Own (95% CI, errors/failed)"].endswith("(2/3)")
    assert detail.loc[f"{GPT} (explicit)", "Unknown author (left out)"] == 1
    assert shown(at, "subheader", "Self-preference: own family vs other families")

    at = app_as(rita, "views/agreement.py")
    assert shown(at, "subheader", "Self-preference: own family vs other families")
    tables = [d.value for d in at.dataframe if "Ratio own / other" in d.value.columns]
    [table] = tables
    assert list(table["Judge"]) == [f"{GPT} (explicit)", f"{QWEN} (explicit)"]
    assert list(table["Family"]) == ["gpt-4o", "qwen2.5"]
