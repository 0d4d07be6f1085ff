"""Preference pairs in TRL's DPO format, counted by hand: n responses with distinct
rewards per prompt give n(n-1)/2 pairs; ties and small margins are skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pairs_support import judged_snapshot
from rubricforge.models.accounts.orm import Role
from rubricforge.models.accounts.permissions import OPERATOR, UserInfo
from rubricforge.models.core.errors import ExportError, InvalidInputError, PermissionDenied
from rubricforge.models.data.pair_formats import (
    ScoredPrompt,
    ScoredResponse,
    pairs_jsonl,
    preference_pairs,
    ranked_rows,
)
from rubricforge.models.judging.preference_pairs import scoring_runs, snapshot_pairs, write_pairs
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from trl.data_utils import is_conversational

ANNOTATOR = UserInfo(id=None, username="ann", role=Role.annotator)


def prompt(uid: str, *rewards: float) -> ScoredPrompt:
    responses = tuple(
        ScoredResponse(i, f"{uid} answer {i}", r, "policy", "unknown")
        for i, r in enumerate(rewards, start=1)
    )
    return ScoredPrompt(uid, (("user", f"question {uid}?"),), responses)


def test_pairs_by_hand() -> None:
    # a: 4 responses, 6 combinations, one tie (0.5 = 0.5): 5 pairs.
    # b: 3 distinct rewards: 3 pairs. c: one response: none. In all 8.
    prompts = [prompt("a", 0.5, 0.9, 0.1, 0.5), prompt("b", 0.2, 0.6, 1.0), prompt("c", 0.7)]
    got = preference_pairs(prompts)
    assert (len(got.pairs), got.ties, got.below_margin) == (8, 1, 0)
    a = [(p.chosen.response_id, p.rejected.response_id) for p in got.pairs if p.prompt.uid == "a"]
    assert a == [(2, 1), (2, 4), (2, 3), (1, 3), (4, 3)]  # best first, ids break ties
    assert all(p.margin > 0 for p in got.pairs)
    # Margins in a: 0.4, 0.4, 0.8, 0.4, 0.4; in b: 0.4, 0.8, 0.4. At 0.5 only the 0.8s stay.
    strict = preference_pairs(prompts, min_margin=0.5)
    assert (len(strict.pairs), strict.ties, strict.below_margin) == (2, 1, 6)
    assert {round(p.margin, 6) for p in strict.pairs} == {0.8}
    assert "2 preference pairs from 8 scored responses to 3 prompts" in strict.summary()


def test_rows_are_trls_conversational_preference_format() -> None:
    got = preference_pairs([prompt("b", 0.2, 0.6)])
    [line] = pairs_jsonl(got).decode().splitlines()
    row = json.loads(line)
    assert row["prompt"] == [{"role": "user", "content": "question b?"}]
    assert row["chosen"] == [{"role": "assistant", "content": "b answer 2"}]
    assert row["rejected"] == [{"role": "assistant", "content": "b answer 1"}]
    assert row["margin"] == pytest.approx(0.4) and row["uid"] == "b"
    assert is_conversational(row)


def test_ranked_rows_share_ranks_on_ties() -> None:
    [row] = ranked_rows([prompt("a", 0.5, 0.9, 0.1, 0.5)])
    assert [(r["rank"], r["response_id"]) for r in row["responses"]] == [
        (1, 2),
        (2, 1),
        (2, 4),
        (4, 3),
    ]


@pytest.mark.parametrize("margin", [-0.1, float("nan"), float("inf")])
def test_a_bad_margin_is_refused(margin: float) -> None:
    with pytest.raises(InvalidInputError, match="minimum margin"):
        preference_pairs([], min_margin=margin)


def test_snapshot_pairs_from_the_newest_rubric_scores(engine: Engine, tmp_path: Path) -> None:
    snapshot, (explicit, implicit) = judged_snapshot(engine)
    got = snapshot_pairs(engine, snapshot, actor=OPERATOR)
    texts = [(p.prompt.uid, p.chosen.text, p.rejected.text) for p in got.pairs]
    assert texts == [("med-000", "A", "B"), ("med-000", "A", "C"), ("med-001", "D", "E")]
    assert got.ties == 1
    # One run only: run 1's scores, where E (0.8) beats D (0.3).
    only = snapshot_pairs(engine, snapshot, run_id=explicit, actor=OPERATOR)
    assert [(p.chosen.text, p.rejected.text) for p in only.pairs][-1] == ("E", "D")
    runs = {r.run_id: r.responses for r in (scoring_runs_of(engine, snapshot))}
    assert runs == {explicit: 5, implicit: 1}

    _, paths = write_pairs(engine, snapshot, tmp_path / "pairs", min_margin=0.3, actor=OPERATOR)
    rows = [json.loads(line) for line in paths["pairs"].read_text().splitlines()]
    # Margins: A-B 0.5, A-C 0.5, D-E 0.2 (< 0.3, left out).
    assert [(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in rows] == [
        ("A", "B"),
        ("A", "C"),
    ]
    ranked = [json.loads(line) for line in paths["ranked"].read_text().splitlines()]
    assert [[x["text"] for x in r["responses"]] for r in ranked] == [["A", "B", "C"], ["D", "E"]]
    assert ranked[0]["responses"][1]["author_model"] == "qwen2.5-7b"


def scoring_runs_of(engine: Engine, snapshot: int):  # noqa: ANN201
    with Session(engine) as s:
        return scoring_runs(s, snapshot)


def test_bad_requests_change_nothing(engine: Engine, tmp_path: Path) -> None:
    snapshot, _ = judged_snapshot(engine)
    with pytest.raises(PermissionDenied):
        snapshot_pairs(engine, snapshot, actor=ANNOTATOR)
    with pytest.raises(InvalidInputError):
        snapshot_pairs(engine, snapshot, min_margin=-1, actor=OPERATOR)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(ExportError, match="holds"):
        write_pairs(engine, snapshot, mine, actor=OPERATOR)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    snapshot_dir = tmp_path / "snap"
    snapshot_dir.mkdir()
    (snapshot_dir / "rar.jsonl").write_text("{}")
    with pytest.raises(ExportError, match="other files"):
        write_pairs(engine, snapshot, snapshot_dir, actor=OPERATOR)
    assert (snapshot_dir / "rar.jsonl").read_text() == "{}"
