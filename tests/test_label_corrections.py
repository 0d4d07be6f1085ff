"""An annotator can undo their last label and change their own labels; each
correction is audited and agreement reads the latest answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from judged_world import World, make_world
from rubricforge.models.agreement.corrections import change_label, my_labels, undo_label
from rubricforge.models.agreement.figures import agreement_report
from rubricforge.models.agreement.orm import HumanLabel
from rubricforge.models.agreement.spotcheck import next_item, submit_label
from rubricforge.models.core.audit import AuditEntry
from rubricforge.models.core.errors import (
    InvalidInputError,
    NoChangesError,
    NotFoundError,
    PermissionDenied,
)
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from test_spotcheck import judged, queue

pytestmark = pytest.mark.db
LONG = "x" * 3000


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as s:
        yield s


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def audits(session: Session, action: str) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).filter_by(action=action)))


def test_my_labels_lists_my_labels_in_the_queue_newest_first(
    session: Session, world: World
) -> None:
    judged(world)
    q = queue(session, world)
    ann, bob = world.users["ann"], world.users["bob"]
    first = next_item(session, ann, queue_id=q)
    assert first is not None
    submit_label(session, ann, first.response_id, first.criterion_id, True, note="a")
    second = next_item(session, ann, queue_id=q)
    assert second is not None
    submit_label(session, ann, second.response_id, second.criterion_id, False)
    submit_label(session, bob, first.response_id, first.criterion_id, False)
    mine = my_labels(session, ann, queue_id=q)
    assert [(m.position, m.met, m.note) for m in mine] == [
        (second.position, False, ""),
        (first.position, True, "a"),
    ]
    assert mine[0].criterion_title is not None
    assert [m.met for m in my_labels(session, bob, queue_id=q)] == [False]


def test_changing_a_label_updates_it_audits_it_and_agreement_reads_it(
    session: Session, world: World
) -> None:
    w = judged(world)
    ann = world.users["ann"]
    crit = w.p1.criteria[0]  # both explicit judges said "met"
    submit_label(session, ann, w.r1, crit, False, note="missed it")
    before = agreement_report(session, n_boot=20).by_judge.groups
    [label] = session.scalars(select(HumanLabel)).all()

    shown = change_label(session, ann, label.id, True, note="it is there after all")
    assert (shown.met, shown.note) == (True, "it is there after all")
    assert session.scalars(select(HumanLabel.met)).all() == [True]  # one row, the latest
    [entry] = audits(session, "label.change")
    assert entry.details["before"] == {"met": False, "score": None, "note": "missed it"}
    assert entry.details["after"]["met"] is True and entry.details["verdict_was_shown"]
    after = agreement_report(session, n_boot=20).by_judge.groups
    confusion = {g.group: g.stats.confusion for g in before}
    assert {g.group: g.stats.confusion for g in after} != confusion


def test_a_bad_change_is_refused_and_changes_nothing(session: Session, world: World) -> None:
    w = judged(world)
    ann, bob, erin = world.users["ann"], world.users["bob"], world.users["erin"]
    submit_label(session, ann, w.r1, w.p1.criteria[0], False)
    submit_label(session, ann, w.r1, None, None, score=3)
    crit_label, score_label = session.scalars(select(HumanLabel).order_by(HumanLabel.id)).all()
    crit, score = crit_label.id, score_label.id
    cases: list[tuple[type[Exception], str | None, object]] = [
        (NoChangesError, "already your label", lambda: change_label(session, ann, crit, False)),
        (InvalidInputError, "give met", lambda: change_label(session, ann, crit, None, score=4)),
        (InvalidInputError, "1-10 score", lambda: change_label(session, ann, score, True)),
        (InvalidInputError, "1 to 10", lambda: change_label(session, ann, score, None, score=11)),
        (InvalidInputError, "at most", lambda: change_label(session, ann, crit, True, note=LONG)),
        (NotFoundError, "no label with id", lambda: change_label(session, bob, crit, True)),
        (NotFoundError, "no label with id", lambda: undo_label(session, bob, crit)),
        (NotFoundError, "no label with id", lambda: change_label(session, ann, 999_999, True)),
        (PermissionDenied, None, lambda: change_label(session, erin, crit, True)),
    ]  # fmt: skip
    for error, message, call in cases:
        with pytest.raises(error, match=message):
            call()  # type: ignore[operator]
    rows = session.execute(select(HumanLabel.met, HumanLabel.score, HumanLabel.note)).all()
    assert sorted(map(tuple, rows), key=str) == sorted([(False, None, ""), (None, 3, "")], key=str)
    assert not audits(session, "label.change") and not audits(session, "label.undo")


def test_undo_gives_the_item_back_and_is_audited(session: Session, world: World) -> None:
    judged(world)
    q = queue(session, world)
    ann = world.users["ann"]
    item = next_item(session, ann, queue_id=q)
    assert item is not None
    submit_label(session, ann, item.response_id, item.criterion_id, True, note="oops")
    assert next_item(session, ann, queue_id=q).position != item.position  # type: ignore[union-attr]
    [last] = my_labels(session, ann, queue_id=q, limit=1)
    undo_label(session, ann, last.label_id)
    again = next_item(session, ann, queue_id=q)
    assert again is not None and again.position == item.position
    assert session.scalars(select(HumanLabel)).all() == []
    [entry] = audits(session, "label.undo")
    assert entry.details["removed"] == {"met": True, "score": None, "note": "oops"}
    with pytest.raises(NotFoundError):  # undone once; a second undo finds nothing
        undo_label(session, ann, last.label_id)
