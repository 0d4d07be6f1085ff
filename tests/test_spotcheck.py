"""Spot-check queues, blind labeling and adjudication on real Postgres, as
annotators, experts and the wrong roles use them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from judged_world import ESS, IMP, OPT, PIT, PromptInfo, World, make_world
from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.agreement.adjudication import adjudicate, adjudication_queue
from rubricforge.models.agreement.figures import agreement_report
from rubricforge.models.agreement.orm import (
    HumanLabel,
    ItemUnit,
    SamplingStrategy,
    SpotCheckItem,
    SpotCheckQueue,
)
from rubricforge.models.agreement.orm import Stratum as S
from rubricforge.models.agreement.spotcheck import (
    LabelItem,
    create_queue,
    list_queues,
    next_item,
    queue_spec,
    reveal,
    submit_label,
)
from rubricforge.models.core.audit import AuditEntry
from rubricforge.models.core.errors import (
    InvalidInputError,
    NotFoundError,
    PermissionDenied,
    WorkflowError,
)
from rubricforge.models.judging.orm import JudgeMode
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as s:
        yield s


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


@dataclasses.dataclass(frozen=True)
class Judged:
    p1: PromptInfo
    p2: PromptInfo
    r1: int
    r2: int
    a: int
    b: int
    imp: int


def judged(world: World) -> Judged:
    """Two prompts (4 categories and 2), one response each, judged by two explicit judges
    who disagree on one criterion, and an implicit judge far from judge-a's reward."""
    erin = world.users["erin"]
    p1 = world.prompt("med", [ESS, IMP, OPT, PIT], author=erin)
    p2 = world.prompt("sci", [ESS, IMP], author=erin)
    r1 = world.response(p1.prompt_id, "Give amoxicillin 500 mg three times daily.")
    r2 = world.response(p2.prompt_id, "Water boils at 100 C at sea level.")
    a = world.run("judge-a", JudgeMode.explicit)
    b = world.run("judge-b", JudgeMode.explicit)
    imp = world.run("judge-a", JudgeMode.implicit)
    world.judge(
        a,
        r1,
        version_id=p1.version_id,
        verdicts=dict.fromkeys(p1.criteria, True),
        reward=0.9,
        rationale="SECRET-RATIONALE",
    )
    b_verdicts = dict.fromkeys(p1.criteria, True) | {p1.criteria[1]: False}
    world.judge(b, r1, version_id=p1.version_id, verdicts=b_verdicts, reward=0.7)
    world.judge(
        a, r2, version_id=p2.version_id, verdicts=dict.fromkeys(p2.criteria, False), reward=0.0
    )
    world.judge(
        b, r2, version_id=p2.version_id, verdicts=dict.fromkeys(p2.criteria, False), reward=0.0
    )
    world.judge(imp, r1, rating=9, reward=8 / 9)
    world.judge(imp, r2, rating=10, reward=1.0)  # 1.0 vs 0.0 explicit: a reward gap
    return Judged(p1, p2, r1, r2, a, b, imp)


def queue(session: Session, world: World, **fields: object) -> int:
    spec = queue_spec(**{"name": "q", "size": 100, **fields})
    return create_queue(session, world.users["rita"], spec).id


def items_of(session: Session, queue_id: int) -> list[SpotCheckItem]:
    return list(
        session.scalars(
            select(SpotCheckItem).filter_by(queue_id=queue_id).order_by(SpotCheckItem.position)
        )
    )


# --- blind labeling ------------------------------------------------------------


def test_label_item_has_no_field_for_the_judge_and_never_carries_its_words(
    session: Session, world: World
) -> None:
    judged(world)
    q = queue(session, world)
    names = {f.name for f in dataclasses.fields(LabelItem)}
    assert not names & {"met", "verdict", "verdicts", "rationale", "rating", "reward", "labels"}
    ann = world.users["ann"]
    seen = 0
    while (item := next_item(session, ann, queue_id=q)) is not None:
        assert "SECRET-RATIONALE" not in repr(item) and "judge rationale" not in repr(item)
        assert item.criterion is not None and item.criterion.id == item.criterion_id
        submit_label(session, ann, item.response_id, item.criterion_id, True)
        seen += 1
    assert seen == 6  # 4 + 2 criteria, each once


def test_submit_stores_the_label_before_any_verdict_is_read(
    session: Session, world: World, engine: Engine
) -> None:
    w = judged(world)
    q = queue(session, world)
    ann = world.users["ann"]
    statements: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        item = next_item(session, ann, queue_id=q)
        assert item is not None
        assert not [s for s in statements if "verdicts" in s or "judgments" in s]
        statements.clear()
        shown = submit_label(
            session,
            ann,
            item.response_id,
            item.criterion_id,
            False,
            note="unsure",
            seconds_spent=12.5,
        )
    finally:
        event.remove(engine, "before_cursor_execute", record)
    insert_at = next(i for i, s in enumerate(statements) if "INSERT INTO human_labels" in s)
    verdict_reads = [i for i, s in enumerate(statements) if "FROM verdicts" in s]
    assert verdict_reads and min(verdict_reads) > insert_at
    assert shown.label.met is False and shown.label.note == "unsure"
    assert shown.label.seconds_spent == 12.5
    assert {v.run_id for v in shown.verdicts} == {w.a, w.b}
    assert all(v.rationale for v in shown.verdicts)
    assert shown.disagreements == sum(1 for v in shown.verdicts if v.met)
    session.commit()
    with Session(engine) as other:  # stored for real, not just in this session
        assert other.scalar(select(func.count()).select_from(HumanLabel)) == 1


def test_reveal_is_refused_until_the_annotator_has_labelled(session: Session, world: World) -> None:
    w = judged(world)
    ann, bob = world.users["ann"], world.users["bob"]
    crit = w.p1.criteria[0]
    with pytest.raises(WorkflowError, match="label this item first"):
        reveal(session, ann, w.r1, crit)
    with pytest.raises(InvalidInputError):  # a bad label is not stored, so still no reveal
        submit_label(session, ann, w.r1, crit, None, score=5)
    with pytest.raises(WorkflowError):
        reveal(session, ann, w.r1, crit)
    submit_label(session, bob, w.r1, crit, True)
    with pytest.raises(WorkflowError):  # bob's label does not unlock ann's view
        reveal(session, ann, w.r1, crit)
    assert reveal(session, bob, w.r1, crit).label.met is True


def test_a_label_is_final_once_the_verdict_was_shown(session: Session, world: World) -> None:
    w = judged(world)
    ann = world.users["ann"]
    crit = w.p1.criteria[0]
    submit_label(session, ann, w.r1, crit, False)
    with pytest.raises(InvalidInputError, match="already labelled"):
        submit_label(session, ann, w.r1, crit, True)
    labels = session.scalars(select(HumanLabel.met)).all()
    assert labels == [False]


def test_several_annotators_meet_on_items_up_to_labels_per_item(
    session: Session, world: World
) -> None:
    judged(world)
    q = queue(session, world, labels_per_item=2)
    ann, bob, cat = (world.users[n] for n in ("ann", "bob", "cat"))
    first = next_item(session, ann, queue_id=q)
    assert first is not None and first.position == 1 and first.remaining == 6
    submit_label(session, ann, first.response_id, first.criterion_id, True)
    again = next_item(session, bob, queue_id=q)
    assert again is not None and again.position == 1  # bob meets ann on item 1
    submit_label(session, bob, again.response_id, again.criterion_id, None)  # a skip
    third = next_item(session, cat, queue_id=q)
    assert third is not None and third.position == 1  # a skip does not fill the item
    submit_label(session, cat, third.response_id, third.criterion_id, False)
    after = next_item(session, ann, queue_id=q)
    assert after is not None and after.position == 2 and after.remaining == 5
    progress = next(p for p in list_queues(session, ann) if p.id == q)
    assert (progress.items, progress.complete, progress.yours) == (6, 1, 1)


def test_whole_response_items_take_a_score(session: Session, world: World) -> None:
    w = judged(world)
    q = queue(session, world, unit=ItemUnit.response)
    ann = world.users["ann"]
    item = next_item(session, ann, queue_id=q)
    assert item is not None and item.criterion_id is None and item.criterion is None
    assert len(item.rubric) in (2, 4)  # the prompt's rubric to score against
    with pytest.raises(InvalidInputError, match="1-10 score"):
        submit_label(session, ann, item.response_id, None, True)
    with pytest.raises(InvalidInputError, match="from 1 to 10"):
        submit_label(session, ann, item.response_id, None, None, score=11)
    shown = submit_label(session, ann, item.response_id, None, None, score=7)
    assert shown.label.score == 7 and shown.verdicts == ()
    assert {j.run_id for j in shown.judgments} == {w.a, w.b, w.imp}


def test_only_annotators_and_admins_label(session: Session, world: World) -> None:
    w = judged(world)
    q = queue(session, world)
    crit = w.p1.criteria[0]
    for name in ("erin", "rita"):
        with pytest.raises(PermissionDenied, match="may not label"):
            next_item(session, world.users[name], queue_id=q)
        with pytest.raises(PermissionDenied):
            submit_label(session, world.users[name], w.r1, crit, True)
    with pytest.raises(InvalidInputError, match="own account"):
        submit_label(session, OPERATOR, w.r1, crit, True)
    assert next_item(session, world.users["admin"], queue_id=q) is not None
    with pytest.raises(PermissionDenied, match="manage spotchecks"):
        create_queue(session, world.users["ann"], queue_spec(name="mine"))
    assert session.scalar(select(func.count()).select_from(HumanLabel)) == 0


def test_bad_labels_are_refused_and_store_nothing(session: Session, world: World) -> None:
    w = judged(world)
    ann = world.users["ann"]
    other_prompt_criterion = w.p2.criteria[0]
    with pytest.raises(InvalidInputError, match="another prompt"):
        submit_label(session, ann, w.r1, other_prompt_criterion, True)
    with pytest.raises(NotFoundError):
        submit_label(session, ann, 999_999, None, None, score=3)
    with pytest.raises(NotFoundError):
        submit_label(session, ann, w.r1, 999_999, True)
    with pytest.raises(InvalidInputError, match="seconds"):
        submit_label(session, ann, w.r1, w.p1.criteria[0], True, seconds_spent=-1)
    with pytest.raises(NotFoundError):
        next_item(session, ann, queue_id=424242)
    assert session.scalar(select(func.count()).select_from(HumanLabel)) == 0


# --- drawing queues -------------------------------------------------------------


def test_bad_queue_specs_are_refused_and_write_nothing(session: Session, world: World) -> None:
    judged(world)
    rita = world.users["rita"]
    for fields, message in [
        ({"strategy": SamplingStrategy.stratified}, "needs stratify_by"),
        ({"stratify_by": S.category}, "only applies"),
        (
            {"unit": ItemUnit.response, "strategy": "stratified", "stratify_by": "category"},
            "no category",
        ),
        ({"size": 0}, "size"),
        ({"name": "  "}, "blank"),
    ]:
        with pytest.raises(InvalidInputError, match=message):
            queue_spec(**{"name": "x", **fields})
    with pytest.raises(InvalidInputError, match="nothing to sample"):
        create_queue(session, rita, queue_spec(name="empty", dataset_ids=(987654,)))
    queue(session, world)
    with pytest.raises(InvalidInputError, match="exists"):
        queue(session, world)
    assert session.scalar(select(func.count()).select_from(SpotCheckQueue)) == 1
    actions = session.scalars(select(AuditEntry.action)).all()
    assert actions.count("spotcheck.create_queue") == 1


def test_the_same_seed_draws_the_same_sample(session: Session, world: World) -> None:
    erin = world.users["erin"]
    run = world.run("judge-a", JudgeMode.explicit)
    for i in range(6):
        p = world.prompt("med", [ESS, IMP, OPT], author=erin)
        r = world.response(p.prompt_id, f"response {i}")
        world.judge(run, r, version_id=p.version_id, verdicts=dict.fromkeys(p.criteria, True))

    def order(name: str, seed: int) -> list[tuple[int, int | None]]:
        q = queue(session, world, name=name, seed=seed, size=10)
        return [(i.response_id, i.criterion_id) for i in items_of(session, q)]

    first, again, other = order("s1", 7), order("s2", 7), order("s3", 8)
    assert len(first) == 10 and first == again
    assert other != first


def test_stratified_sampling_covers_every_stratum(session: Session, world: World) -> None:
    erin = world.users["erin"]
    a = world.run("judge-a", JudgeMode.explicit)
    b = world.run("judge-b", JudgeMode.explicit)
    # 12 prompts of Essential criteria and one prompt with the only Pitfall, Optional,
    # Important; judge-b judged one response only; the "sci" dataset holds one prompt.
    for i in range(12):
        p = world.prompt("med", [ESS, ESS, ESS], author=erin)
        r = world.response(p.prompt_id, f"response {i}")
        world.judge(a, r, version_id=p.version_id, verdicts=dict.fromkeys(p.criteria, True))
    rare = world.prompt("sci", [PIT, OPT, IMP], author=erin)
    r = world.response(rare.prompt_id, "rare")
    world.judge(a, r, version_id=rare.version_id, verdicts=dict.fromkeys(rare.criteria, True))
    world.judge(b, r, version_id=rare.version_id, verdicts=dict.fromkeys(rare.criteria, False))

    from rubricforge.models.rubrics.orm import Criterion

    def strata(by: S, size: int) -> list[str]:
        q = queue(session, world, name=f"by-{by}", strategy="stratified", stratify_by=by, size=size)
        items = items_of(session, q)
        assert [i.position for i in items] == list(range(1, len(items) + 1))
        if by is S.category:
            ids = [i.criterion_id for i in items]
            cats = dict(
                session.execute(
                    select(Criterion.id, Criterion.category).where(Criterion.id.in_(ids))
                ).all()
            )
            assert [cats[i].value for i in ids] == [i.stratum for i in items]
        return [i.stratum for i in items]

    assert sorted(strata(S.category, 4)) == ["Essential", "Important", "Optional", "Pitfall"]
    assert sorted(strata(S.judge_model, 2)) == ["judge-a", "judge-b"]
    assert sorted(strata(S.dataset, 2)) == ["med", "sci"]
    uniform = items_of(session, queue(session, world, name="uniform", size=4))
    assert {i.stratum for i in uniform} == {""}


def test_disagreement_first_puts_disagreeing_items_first(session: Session, world: World) -> None:
    w = judged(world)
    p1, p2 = w.p1, w.p2
    # Extra agreeing items so that disagreement-first has something to put last.
    erin = world.users["erin"]
    for i in range(5):
        p = world.prompt("med", [ESS, IMP], author=erin)
        r = world.response(p.prompt_id, f"calm {i}")
        world.judge(
            w.a, r, version_id=p.version_id, verdicts=dict.fromkeys(p.criteria, True), reward=1.0
        )
    q = queue(session, world, strategy="disagreement_first", reward_gap=0.5)
    items = items_of(session, q)
    disagreeing = {(w.r1, p1.criteria[1])} | {(w.r2, c) for c in p2.criteria}
    first = {(i.response_id, i.criterion_id) for i in items[: len(disagreeing)]}
    assert first == disagreeing
    assert [i.stratum for i in items] == ["disagree"] * 3 + ["rest"] * (len(items) - 3)
    split = next(i for i in items if i.criterion_id == p1.criteria[1])
    assert "judges split" in split.reason
    assert all(
        "rewards of two runs differ by 1.00" in i.reason for i in items if i.response_id == w.r2
    )
    # A queue as small as the disagreements holds exactly them, whatever the hash order.
    small = items_of(
        session, queue(session, world, name="small", strategy="disagreement_first", size=3)
    )
    assert {(i.response_id, i.criterion_id) for i in small} == disagreeing
    whole = items_of(
        session,
        queue(
            session,
            world,
            name="whole",
            unit="response",
            strategy="disagreement_first",
            reward_gap=0.5,
        ),
    )
    assert whole[0].response_id == w.r2 and whole[0].stratum == "disagree"
    assert {i.stratum for i in whole[1:]} == {"rest"}


# --- adjudication ----------------------------------------------------------------


def test_an_expert_adjudicates_what_two_annotators_disagree_on(
    session: Session, world: World
) -> None:
    w = judged(world)
    ann, bob, cat, erin = (world.users[n] for n in ("ann", "bob", "cat", "erin"))
    crit, calm = w.p1.criteria[0], w.p1.criteria[2]
    r1 = w.r1
    submit_label(session, ann, r1, crit, True, note="clearly there")
    submit_label(session, bob, r1, crit, False, note="not stated")
    submit_label(session, ann, r1, calm, True)
    submit_label(session, bob, r1, calm, True)
    submit_label(session, ann, r1, None, None, score=2)
    submit_label(session, bob, r1, None, None, score=9)

    with pytest.raises(PermissionDenied, match="adjudicate"):
        adjudication_queue(session, cat)
    disputed = adjudication_queue(session, erin)
    assert [(d.response_id, d.criterion_id) for d in disputed] == [(r1, crit), (r1, None)]
    item = disputed[0]
    assert {(lab.annotator, lab.met, lab.note) for lab in item.labels} == {
        ("ann", True, "clearly there"),
        ("bob", False, "not stated"),
    }
    assert item.verdicts and all(v.rationale for v in item.verdicts)
    assert disputed[1].judgments  # whole responses show the judges' ratings

    with pytest.raises(InvalidInputError, match="do not disagree"):
        adjudicate(session, erin, r1, calm, met=True)
    with pytest.raises(InvalidInputError, match="cannot be a skip"):
        adjudicate(session, erin, r1, crit, met=None)
    with pytest.raises(PermissionDenied):
        adjudicate(session, ann, r1, crit, met=True)
    final = adjudicate(session, erin, r1, crit, met=False, note="not stated")
    assert final.is_adjudication and final.met is False and final.annotator == "erin"
    with pytest.raises(InvalidInputError, match="already adjudicated"):
        adjudicate(session, world.users["eve"], r1, crit, met=True)
    adjudicate(session, erin, r1, None, score=4)
    assert adjudication_queue(session, erin) == []
    assert (
        session.scalar(
            select(func.count()).select_from(AuditEntry).filter_by(action="label.adjudicate")
        )
        == 2
    )

    # Agreement reads the final label: both judges said "met", the final label is "not met".
    report = agreement_report(session, n_boot=50)
    by_item = {g.group: g.stats for g in report.by_judge.groups}
    assert report.n_adjudicated == 1
    assert by_item["judge-a (explicit)"].confusion == ((0, 1), (0, 1))  # crit wrong, calm right


def test_an_admin_who_labelled_an_item_cannot_adjudicate_it(session: Session, world: World) -> None:
    w = judged(world)
    admin, ann = world.users["admin"], world.users["ann"]
    crit = w.p1.criteria[0]
    submit_label(session, admin, w.r1, crit, True)
    submit_label(session, ann, w.r1, crit, False)
    assert adjudication_queue(session, admin) == []  # not offered to a party to it
    assert len(adjudication_queue(session, world.users["erin"])) == 1
    with pytest.raises(InvalidInputError, match="labelled this item yourself"):
        adjudicate(session, admin, w.r1, crit, met=True)
    assert (
        session.scalar(
            select(func.count()).select_from(HumanLabel).where(HumanLabel.is_adjudication)
        )
        == 0
    )
