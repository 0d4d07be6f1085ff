"""Queues assigned to named annotators: a lead gives items by position or a share of
the sample, an annotator is served their own items first, and bad input assigns
nothing. Counts are worked out by hand from a 10-item queue."""

from __future__ import annotations

import pytest
from judging_support import judged
from rubricforge.models.agreement.assignments import assign_items, assignments, parse_positions
from rubricforge.models.agreement.orm import LabelAssignment
from rubricforge.models.agreement.spotcheck import list_queues, next_item, submit_label
from rubricforge.models.core.errors import InvalidInputError, NotFoundError, PermissionDenied
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

pytestmark = pytest.mark.db


def count(s: Session) -> int:
    return s.scalar(select(func.count()).select_from(LabelAssignment)) or 0


def test_positions_parse_ranges_and_refuse_nonsense() -> None:
    assert parse_positions("1-3, 7,3") == [1, 2, 3, 7]
    for bad in ("", "a", "5-2", "0", "1-2-3", "1;2"):
        with pytest.raises(InvalidInputError):
            parse_positions(bad)


def test_shares_split_a_queue_and_each_annotator_gets_theirs_first(engine: Engine) -> None:
    j = judged(engine, queue_size=10)
    assert j.queue is not None
    users = j.world.users
    with Session(engine) as s, s.begin():
        # 0.3 of 10 = 3 items (positions 1-3); then 0.5 = 5 of the 7 nobody has (4-8).
        assert assign_items(s, users["erin"], j.queue, "bob", share=0.3) == 3
        assert assign_items(s, users["erin"], j.queue, "cat", share=0.5) == 5
        # Positions 9-10 by hand to bob; 10 again is not counted twice.
        assert assign_items(s, users["erin"], j.queue, "bob", positions=[9, 10]) == 2
        assert assign_items(s, users["erin"], j.queue, "bob", positions=[10]) == 0
        assert count(s) == 10
        rows = {r.annotator: (r.assigned, r.labelled) for r in assignments(s, j.queue)}
        assert rows == {"bob": (5, 0), "cat": (5, 0)}
        # cat is served her own share first: position 4, not 1.
        item = next_item(s, users["cat"], queue_id=j.queue)
        assert item is not None and (item.position, item.assigned) == (4, True)
        # ann has nothing assigned: all 10 are someone else's, so she starts at 1.
        first = next_item(s, users["ann"], queue_id=j.queue)
        assert first is not None and (first.position, first.assigned) == (1, False)
        submit_label(s, users["cat"], item.response_id, item.criterion_id, True)
        rows = {r.annotator: (r.assigned, r.labelled) for r in assignments(s, j.queue)}
        assert rows["cat"] == (5, 1)
        queue = list_queues(s, users["cat"], queue_id=j.queue)[0]
        assert (queue.yours, queue.assigned_open) == (1, 4)
        nxt = next_item(s, users["cat"], queue_id=j.queue)
        assert nxt is not None and nxt.position == 5


def test_unassigned_items_come_before_a_colleagues(engine: Engine) -> None:
    j = judged(engine, queue_size=4)
    assert j.queue is not None
    with Session(engine) as s, s.begin():
        assign_items(s, j.world.users["erin"], j.queue, "bob", positions=[1, 2])
        assign_items(s, j.world.users["erin"], j.queue, "ann", positions=[4])
        order = []
        for _ in range(4):
            item = next_item(s, j.world.users["ann"], queue_id=j.queue)
            assert item is not None
            order.append(item.position)
            submit_label(s, j.world.users["ann"], item.response_id, item.criterion_id, None)
        assert order == [4, 3, 1, 2]  # hers, nobody's, then bob's


def test_bad_assignments_write_nothing(engine: Engine) -> None:
    j = judged(engine, queue_size=4)
    assert j.queue is not None
    users = j.world.users
    with Session(engine) as s, s.begin():
        cases: list[tuple[type[Exception], str, dict[str, object]]] = [
            (InvalidInputError, "no item at 5", {"positions": [3, 5]}),
            (InvalidInputError, "more than 0", {"share": 0.0}),
            (InvalidInputError, "more than 0", {"share": 1.5}),
            (InvalidInputError, "not both", {"share": 0.5, "positions": [1]}),
            (InvalidInputError, "not both", {}),
        ]
        for exc, match, kw in cases:
            with pytest.raises(exc, match=match):
                assign_items(s, users["erin"], j.queue, "bob", **kw)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match="does not label"):
            assign_items(s, users["erin"], j.queue, "eve", share=1.0)  # an expert
        with pytest.raises(NotFoundError, match="no user named"):
            assign_items(s, users["erin"], j.queue, "nobody", share=1.0)
        with pytest.raises(NotFoundError, match="no spot-check queue"):
            assign_items(s, users["erin"], 999, "bob", share=1.0)
        with pytest.raises(PermissionDenied):
            assign_items(s, users["ann"], j.queue, "bob", share=1.0)  # annotators don't assign
        assert count(s) == 0
