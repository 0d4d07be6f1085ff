"""Flag for revision on real Postgres: a criterion the judge and the humans disagree on
goes back to its expert with the evidence, and the version that fixes it closes the loop."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
from judged_world import ESS, IMP, OPT, PIT, PromptInfo, World, make_world
from rubricforge.models.agreement.revision import (
    EXCERPT_CHARS,
    flag_for_revision,
    open_requests,
    resolve_request,
    resolve_requests_for_new_version,
)
from rubricforge.models.core.audit import AuditEntry
from rubricforge.models.core.errors import (
    InvalidInputError,
    NotFoundError,
    PermissionDenied,
    WorkflowError,
)
from rubricforge.models.judging.orm import JudgeMode
from rubricforge.models.rubrics.authoring import (
    approve,
    get_version,
    retire,
    save_version,
    submit_for_review,
)
from rubricforge.models.rubrics.orm import (
    Criterion,
    ReviewAction,
    RevisionRequest,
    Rubric,
    RubricReview,
)
from rubricforge.models.rubrics.orm import RubricStatus as St
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as s:
        yield s


@dataclass(frozen=True)
class Case:
    world: World
    prompt: PromptInfo
    responses: list[int]


def approved_and_disputed(session: Session) -> Case:
    """An approved rubric whose first criterion the judge calls met on three responses,
    while both annotators say not met on two of them."""
    w = make_world(session)
    erin, eve, ann, bob = (w.users[n] for n in ("erin", "eve", "ann", "bob"))
    p = w.prompt("med", [ESS, IMP, OPT, PIT], author=erin)
    lock = session.get_one(Rubric, p.rubric_id).lock_version
    lock = submit_for_review(session, erin, p.rubric_id, expected_lock_version=lock).lock_version
    approve(session, eve, p.rubric_id, expected_lock_version=lock, confirm_errors=True)
    run = w.run("judge-a", JudgeMode.explicit)
    responses = []
    for i in range(3):
        r = w.response(p.prompt_id, f"response {i} " + "long text " * 200)
        w.judge(
            run,
            r,
            version_id=p.version_id,
            verdicts=dict.fromkeys(p.criteria, True),
            rationale=f"it says so in paragraph {i}",
        )
        for who in (ann, bob):
            w.label(who, r, p.criteria[0], i == 2)  # humans: met only on response 2
            w.label(who, r, p.criteria[1], True)  # agreement on the second criterion
        responses.append(r)
    return Case(w, p, responses)


def lock_of(session: Session, rubric_id: int) -> int:
    return session.execute(select(Rubric.lock_version).where(Rubric.id == rubric_id)).scalar_one()


def test_flag_revise_resolve_round_trip(session: Session) -> None:
    c = approved_and_disputed(session)
    w, p = c.world, c.prompt
    rita, erin = w.users["rita"], w.users["erin"]
    before = lock_of(session, p.rubric_id)

    req = flag_for_revision(session, rita, p.criteria[0], "judge says met, humans disagree")
    rubric = session.get_one(Rubric, p.rubric_id)
    session.refresh(rubric)
    assert rubric.status is St.draft and rubric.lock_version > before
    review = session.scalars(select(RubricReview).order_by(RubricReview.id.desc())).first()
    assert review is not None and review.action is ReviewAction.reopen
    assert "humans disagree" in review.comment

    assert req.criterion_id == p.criteria[0] and req.created_by == "rita"
    assert req.evidence["summary"]["disagreeing_items"] == 2
    assert req.evidence["summary"]["labelled_items"] == 3
    assert req.evidence["summary"]["accuracy"] == pytest.approx(1 / 3)
    assert req.evidence["criterion"]["key"] == req.criterion_key
    items = req.evidence["items"]
    assert {i["response_id"] for i in items} == set(c.responses[:2])
    for item in items:
        assert len(item["response_excerpt"]) <= EXCERPT_CHARS
        assert item["response_excerpt"].startswith("response ")
        assert sorted(lab["annotator"] for lab in item["labels"]) == ["ann", "bob"]
        assert all(lab["met"] is False for lab in item["labels"])
        assert [v["met"] for v in item["verdicts"]] == [True]
        assert item["verdicts"][0]["rationale"].startswith("it says so in paragraph")
    assert [r.id for r in open_requests(session, p.rubric_id)] == [req.id]
    audit = session.scalars(
        select(AuditEntry).filter_by(action="rubric.flag_revision", entity_id=str(p.rubric_id))
    ).one()
    assert audit.details["request_id"] == req.id and audit.user_id == rita.id

    # A version that changes another criterion leaves the request open ...
    current = list(get_version(session, p.version_id).criteria)
    other = [current[0], replace(current[1], description="Reworded second point."), *current[2:]]
    v2 = save_version(
        session,
        erin,
        p.rubric_id,
        other,
        expected_lock_version=lock_of(session, p.rubric_id),
        note="unrelated",
    )
    assert resolve_requests_for_new_version(session, erin, p.rubric_id, v2.id) == []
    assert [r.id for r in open_requests(session, p.rubric_id)] == [req.id]

    # ... the one that rewrites the flagged criterion (same key) resolves it.
    fixed = [replace(other[0], description="States the dose explicitly, in mg."), *other[1:]]
    v3 = save_version(
        session,
        erin,
        p.rubric_id,
        fixed,
        expected_lock_version=lock_of(session, p.rubric_id),
        note="fix",
    )
    assert resolve_requests_for_new_version(session, erin, p.rubric_id, v3.id) == [req.id]
    assert open_requests(session, p.rubric_id) == []
    done = session.get_one(RevisionRequest, req.id)
    session.refresh(done)
    assert done.resolved_at is not None and done.resolved_version_id == v3.id
    assert done.resolved_by_id == erin.id and done.resolution == "criterion changed in version 3"


def test_removing_the_criterion_resolves_the_request(session: Session) -> None:
    c = approved_and_disputed(session)
    w, p = c.world, c.prompt
    erin = w.users["erin"]
    req = flag_for_revision(session, erin, p.criteria[0], "ambiguous")
    remaining = list(get_version(session, p.version_id).criteria)[1:]
    v2 = save_version(
        session,
        erin,
        p.rubric_id,
        remaining,
        expected_lock_version=lock_of(session, p.rubric_id),
        note="drop it",
    )
    assert resolve_requests_for_new_version(session, erin, p.rubric_id, v2.id) == [req.id]
    assert session.get_one(RevisionRequest, req.id).resolution == "criterion removed in version 2"


def test_an_expert_can_close_a_request_without_a_new_version(session: Session) -> None:
    c = approved_and_disputed(session)
    w, p = c.world, c.prompt
    req = flag_for_revision(session, w.users["rita"], p.criteria[0], "check it")
    with pytest.raises(PermissionDenied):
        resolve_request(session, w.users["ann"], req.id, "looks fine")
    with pytest.raises(InvalidInputError, match="how the request was resolved"):
        resolve_request(session, w.users["erin"], req.id, "  ")
    done = resolve_request(session, w.users["erin"], req.id, "the judge was wrong, not the text")
    assert done.resolved_by == "erin" and done.resolution == "the judge was wrong, not the text"
    assert done.resolved_at is not None and open_requests(session, p.rubric_id) == []
    with pytest.raises(InvalidInputError, match="already resolved"):
        resolve_request(session, w.users["erin"], req.id, "again")
    with pytest.raises(NotFoundError):
        resolve_request(session, w.users["erin"], 987654, "x")


def test_refused_flags_change_nothing(session: Session) -> None:
    c = approved_and_disputed(session)
    w, p = c.world, c.prompt
    rita = w.users["rita"]
    before = lock_of(session, p.rubric_id)

    def unchanged() -> None:
        assert lock_of(session, p.rubric_id) == before
        assert session.scalar(select(Rubric.status).filter_by(id=p.rubric_id)) is St.approved
        assert session.scalar(select(func.count()).select_from(RevisionRequest)) == 0

    with pytest.raises(PermissionDenied, match="flag revision"):
        flag_for_revision(session, w.users["ann"], p.criteria[0], "I disagree")
    unchanged()
    with pytest.raises(InvalidInputError, match="say why"):
        flag_for_revision(session, rita, p.criteria[0], "   ")
    unchanged()
    with pytest.raises(NotFoundError):
        flag_for_revision(session, rita, 987654, "gone")
    unchanged()

    first = flag_for_revision(session, rita, p.criteria[0], "disagreement")
    after = lock_of(session, p.rubric_id)
    with pytest.raises(InvalidInputError, match="already flagged"):
        flag_for_revision(session, w.users["erin"], p.criteria[0], "me too")
    assert lock_of(session, p.rubric_id) == after
    assert [r.id for r in open_requests(session, p.rubric_id)] == [first.id]
    # Another criterion of the same rubric can be flagged on its own.
    second = flag_for_revision(session, rita, p.criteria[1], "too vague")
    assert second.evidence["summary"]["disagreeing_items"] == 0 and second.evidence["items"] == []

    with pytest.raises(NotFoundError):  # a version of another rubric
        other = w.prompt("med", [ESS], author=w.users["erin"])
        resolve_requests_for_new_version(session, w.users["erin"], p.rubric_id, other.version_id)


def test_a_retired_rubric_cannot_be_flagged(session: Session) -> None:
    c = approved_and_disputed(session)
    w, p = c.world, c.prompt
    retire(
        session, w.users["erin"], p.rubric_id, expected_lock_version=lock_of(session, p.rubric_id)
    )
    with pytest.raises(WorkflowError, match="retired"):
        flag_for_revision(session, w.users["rita"], p.criteria[0], "bad")
    assert session.scalar(select(func.count()).select_from(RevisionRequest)) == 0
    assert session.scalar(select(Criterion.id).filter_by(id=p.criteria[0])) is not None
