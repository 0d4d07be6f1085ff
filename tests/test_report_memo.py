"""The memo behind the agreement report and the leaderboard: a digest of every value
read, in any row order, so a rerun with the same rows skips the bootstrap and a
new label (or anything else read) is never answered from the memo."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pandas as pd
import pytest
from judged_world import ESS, IMP, PIT, make_world
from rubricforge.models.agreement import memo as report_memo
from rubricforge.models.agreement.figures import agreement_report
from rubricforge.models.agreement.leaderboard import leaderboard
from rubricforge.models.agreement.queries import AgreementFilters, criterion_pairs, read_frame
from rubricforge.models.judging.orm import JudgeMode
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session


@pytest.fixture(autouse=True)
def empty_memo() -> Iterator[None]:
    report_memo.clear()
    yield
    report_memo.clear()


def frame(**columns: list[object]) -> pd.DataFrame:
    return pd.DataFrame(columns)


def test_the_digest_sees_every_value_but_not_the_row_order() -> None:
    a = frame(response_id=[1, 2, 3], met=[True, False, True], who=["ann", "bob", "ann"])
    digest = report_memo.frames_digest(a)
    assert report_memo.frames_digest(a.iloc[[2, 0, 1]]) == digest
    assert report_memo.frames_digest(a.assign(met=[True, False, False])) != digest
    assert report_memo.frames_digest(a.assign(who=["ann", "bob", "cat"])) != digest
    assert report_memo.frames_digest(a.rename(columns={"who": "annotator"})) != digest
    assert report_memo.frames_digest(a.iloc[:2]) != digest
    assert report_memo.frames_digest(a, a.iloc[:0]) != report_memo.frames_digest(a)


def test_memoized_computes_once_per_key_and_forgets_the_oldest() -> None:
    calls: list[int] = []

    def compute(n: int) -> int:
        calls.append(n)
        return n * n

    assert report_memo.memoized(("k", 3), lambda: compute(3)) == 9
    assert report_memo.memoized(("k", 3), lambda: compute(3)) == 9
    assert calls == [3]
    for n in range(100, 100 + report_memo.SIZE):
        report_memo.memoized(("other", n), partial(compute, n))
    report_memo.memoized(("k", 3), lambda: compute(3))
    assert calls.count(3) == 2  # pushed out by SIZE newer keys, computed again


def judged_items(w: Any, prompts: int, met: Callable[[int], bool]) -> list[tuple[int, int]]:
    """(response, criterion) items: one response per prompt of three criteria, judged
    by one explicit run whose verdicts on prompt k are all met(k)."""
    run = w.run("judge-a", JudgeMode.explicit)
    items = []
    for k in range(prompts):
        p = w.prompt("med", [ESS, IMP, PIT], author=w.users["erin"])
        r = w.response(p.prompt_id, f"response {k}")
        w.judge(run, r, version_id=p.version_id, verdicts={c: met(k) for c in p.criteria},
                reward=0.5)  # fmt: skip
        items += [(r, c) for c in p.criteria]
    return items


def test_a_new_label_changes_the_report_and_the_leaderboard(engine: Engine) -> None:
    with Session(engine) as s:
        w = make_world(s)
        items = judged_items(w, 6, met=lambda k: k % 2 == 0)
        for n, (r, c) in enumerate(items[:-1]):
            w.label(w.users["ann"], r, c, n % 3 != 0)
        s.commit()
        before, board = agreement_report(s, n_boot=50), leaderboard(s, n_boot=50)
        again = agreement_report(s, n_boot=50)  # same rows: every part from the memo
        assert again.overall is before.overall and again.by_criterion is before.by_criterion
        assert again.responses is before.responses
        assert leaderboard(s, n_boot=50) is board
        w.label(w.users["ann"], *items[-1], True)
        s.commit()
        after = agreement_report(s, n_boot=50)
        assert after.n_labels == before.n_labels + 1
        assert leaderboard(s, n_boot=50).n_items == board.n_items + 1


# --- rows kept while the database is unchanged (memo.as_of_snapshot) ------------------


def labelled_world(engine: Engine) -> tuple[Any, list[tuple[int, int]]]:
    with Session(engine) as s:
        w = make_world(s)
        items = judged_items(w, 3, met=lambda k: True)
        for r, c in items[:-2]:
            w.label(w.users["ann"], r, c, True)
        s.commit()
        return w, items


def counted(session: Session, reads: list[int]) -> pd.DataFrame:
    def read() -> pd.DataFrame:
        reads.append(1)
        return read_frame(session, "SELECT count(*) AS n FROM human_labels", {})

    return report_memo.as_of_snapshot(session, "labels", read)


def test_rows_are_kept_until_anything_commits(engine: Engine) -> None:
    w, items = labelled_world(engine)
    reads: list[int] = []
    with Session(engine) as a, Session(engine) as b:
        assert int(counted(a, reads).n[0]) == 7
        assert int(counted(b, reads).n[0]) == 7
        assert len(reads) == 1  # nothing changed: the second read is the kept frame
        b.rollback()
    with Session(engine) as s:
        w.session = s
        w.label(w.users["ann"], *items[-2], False)
        s.commit()
    with Session(engine) as c:
        assert int(counted(c, reads).n[0]) == 8
    assert len(reads) == 2
    # The pairs behind the dashboard follow the same rule.
    with Session(engine) as d:
        before = criterion_pairs(d, AgreementFilters())
        assert criterion_pairs(d, AgreementFilters()).equals(before)
    with Session(engine) as s:
        w.session = s
        w.label(w.users["ann"], *items[-1], True)
        s.commit()
    with Session(engine) as e:
        assert len(criterion_pairs(e, AgreementFilters())) == len(before) + 1


def test_a_writing_transaction_reads_afresh_and_keeps_nothing(engine: Engine) -> None:
    w, items = labelled_world(engine)
    reads: list[int] = []
    with Session(engine) as reader:
        assert int(counted(reader, reads).n[0]) == 7
    with Session(engine) as writer:
        w.session = writer
        w.label(w.users["ann"], *items[-1], True)
        writer.flush()  # written, not committed: its snapshot can equal the reader's
        assert int(counted(writer, reads).n[0]) == 8  # its own row, read afresh ...
        writer.rollback()  # ... and rolled back: nobody may be shown it
    with Session(engine) as reader:
        assert int(counted(reader, reads).n[0]) == 7
    assert len(reads) == 3


def test_kept_rows_are_handed_out_as_copies(engine: Engine) -> None:
    labelled_world(engine)
    reads: list[int] = []
    with Session(engine) as s:
        first = counted(s, reads)
        first.loc[0, "n"] = -1
        first["extra"] = 1
        again = counted(s, reads)
    assert len(reads) == 1 and list(again.columns) == ["n"] and int(again.n[0]) == 7


def test_two_databases_never_share_rows(db_url: str, empty_db_url: str) -> None:
    seen = []
    for url in (db_url, empty_db_url, db_url):
        eng = create_engine(url)
        with Session(eng) as s:
            frame = report_memo.as_of_snapshot(
                s, "which", lambda s=s: read_frame(s, "SELECT current_database() AS db", {})
            )
            seen.append(frame.db[0])
        eng.dispose()
    assert seen[0] != seen[1] and seen[0] == seen[2]
