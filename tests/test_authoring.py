"""Rubric authoring on real Postgres, as experts, reviewers and the wrong roles
use it: versions, optimistic locking, the review workflow, diffs, assignment,
and an audit entry for every write."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from rubricforge.models.accounts.orm import Role, User
from rubricforge.models.accounts.permissions import UserInfo
from rubricforge.models.core.audit import AuditEntry
from rubricforge.models.core.errors import (
    InvalidInputError,
    LintErrorsRemain,
    NoChangesError,
    NotFoundError,
    PermissionDenied,
    StaleEditError,
    WorkflowError,
)
from rubricforge.models.rubrics.authoring import (
    approve,
    assign_prompts,
    create_rubric,
    diff_versions,
    get_version,
    list_reviews,
    list_versions,
    load_editor_state,
    reject,
    reopen,
    restore_version,
    retire,
    save_version,
    submit_for_review,
)
from rubricforge.models.rubrics.criteria import POLARITY_AVOIDANCE, CriterionData
from rubricforge.models.rubrics.diff import diff_criteria
from rubricforge.models.rubrics.orm import (
    Category,
    Criterion,
    Dataset,
    Prompt,
    ReviewAction,
    Rubric,
    RubricReview,
    RubricStatus,
    RubricVersion,
    VersionSource,
)
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

ESS, IMP, OPT, PIT = Category.essential, Category.important, Category.optional, Category.pitfall


def rubric_items() -> list[CriterionData]:
    """A lint-clean rubric of seven criteria."""
    rows = [
        ("Names Diagnosis", "Identifies vernal keratoconjunctivitis as the diagnosis.", ESS, 5),
        ("Seasonal Pattern", "Mentions that symptoms recur with the onset of hot weather.", ESS, 5),
        ("Affected Group", "Highlights that the condition mostly affects young boys.", IMP, 4),
        ("Symptoms", "Describes burning, itching, and lacrimation as the main symptoms.", IMP, 3),
        (
            "Giant Papillae",
            "Notes cobblestone giant papillae on the upper tarsal conjunctiva.",
            IMP,
            3,
        ),
        ("Trachoma Unlikely", "Explains why trachoma is unlikely in this presentation.", OPT, 2),
        ("Trachoma Answer", "Selects trachoma as the final answer.", PIT, -2),
    ]
    return [CriterionData(*row) for row in rows]


@dataclass
class World:
    engine: Engine
    users: dict[str, UserInfo]
    prompts: list[int]
    factory: sessionmaker[Session]

    def do(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one service call as one committed unit of work."""
        with self.factory() as s, s.begin():
            return fn(s, *args, **kwargs)

    def count(self, model: type[Any]) -> int:
        with self.factory() as s:
            return s.scalar(select(func.count()).select_from(model)) or 0

    def audit(self) -> list[tuple[str, str, str]]:
        with self.factory() as s:
            rows = s.execute(
                select(AuditEntry.actor, AuditEntry.action, AuditEntry.entity_id).order_by(
                    AuditEntry.id
                )
            )
            return [(a, b, c) for a, b, c in rows]

    def snapshot(self) -> tuple[int, ...]:
        """Row counts of everything a refused call must leave alone."""
        return tuple(
            self.count(m) for m in (Rubric, RubricVersion, Criterion, RubricReview, AuditEntry)
        )


@pytest.fixture
def world(engine: Engine) -> Iterator[World]:
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as s, s.begin():
        users = {}
        for name, role in [
            ("admin", Role.admin),
            ("ann", Role.annotator),
            ("emma", Role.expert),
            ("omar", Role.expert),
            ("rita", Role.researcher),
        ]:
            u = User(username=name, role=role)
            s.add(u)
            s.flush()
            users[name] = UserInfo(u.id, name, role)
        ds = Dataset(name="vkc")
        s.add(ds)
        s.flush()
        prompts = [
            Prompt(
                dataset_id=ds.id,
                external_id=f"q{i}",
                question=f"Question {i}?",
                reference_answer=f"Answer {i}.",
            )
            for i in range(3)
        ]
        s.add_all(prompts)
        s.flush()
        ids = [p.id for p in prompts]
    yield World(engine, users, ids, factory)


def new_rubric(w: World, actor: str = "emma", prompt: int = 0) -> Any:
    return w.do(create_rubric, w.users[actor], w.prompts[prompt], rubric_items(), note="first")


# --- versions ---------------------------------------------------------------


def test_create_and_save_versions(world: World) -> None:
    v1 = new_rubric(world)
    assert (v1.number, v1.parent_id, v1.source, v1.created_by) == (
        1,
        None,
        VersionSource.human,
        "emma",
    )
    assert v1.rubric.status is RubricStatus.draft and v1.is_head
    assert [c.title for c in v1.criteria] == [c.title for c in rubric_items()]

    edited = list(v1.criteria)
    edited[2] = replace(edited[2], weight=3)
    edited.append(CriterionData("Mast Cells", "Recommends a mast cell stabiliser.", OPT, 1))
    v2 = world.do(
        save_version,
        world.users["omar"],
        v1.rubric_id,
        edited,
        expected_lock_version=v1.rubric.lock_version,
        note="weights",
        source=VersionSource.llm,
        llm_model="m",
        template_hash="t" * 64,
    )
    assert (v2.number, v2.parent_id, v2.created_by, v2.llm_model) == (2, v1.id, "omar", "m")
    assert v2.rubric.head_version_id == v2.id and v2.rubric.lock_version > v1.rubric.lock_version
    assert [c.key for c in v2.criteria[:7]] == [c.key for c in v1.criteria]  # keys kept
    assert v2.content_hash != v1.content_hash

    # Versions are immutable: version 1 reads back as it was.
    assert get_version_criteria(world, v1.id) == v1.criteria
    assert [v.number for v in world.do(list_versions, v1.rubric_id)] == [2, 1]
    state = world.do(load_editor_state, world.prompts[0])
    assert (state.rubric_id, state.head_version_number, state.lock_version) == (
        v1.rubric_id,
        2,
        v2.rubric.lock_version,
    )
    assert state.criteria == v2.criteria and state.question == "Question 0?"
    assert world.audit() == [
        ("emma", "rubric.create", str(v1.rubric_id)),
        ("omar", "rubric.save_version", str(v1.rubric_id)),
    ]


def get_version_criteria(w: World, version_id: int) -> tuple[CriterionData, ...]:
    return w.do(get_version, version_id).criteria


def test_polarity_flags_are_stored_with_the_criterion(world: World) -> None:
    items = rubric_items()
    items[6] = replace(items[6], title="Avoids Trachoma", description="Does not select trachoma.")
    v = world.do(create_rubric, world.users["emma"], world.prompts[0], items)
    with world.factory() as s:
        flags = s.scalars(select(Criterion.flags).filter_by(version_id=v.id, position=6)).one()
    assert POLARITY_AVOIDANCE in flags


def test_prompt_without_rubric_and_double_create(world: World) -> None:
    state = world.do(load_editor_state, world.prompts[1])
    assert (state.rubric_id, state.lock_version, state.criteria) == (None, None, ())
    new_rubric(world)
    before = world.snapshot()
    with pytest.raises(StaleEditError, match="already has rubric"):
        new_rubric(world, actor="omar")
    with pytest.raises(NotFoundError, match="no prompt with id 999999"):
        world.do(create_rubric, world.users["emma"], 999999, rubric_items())
    assert world.snapshot() == before


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        ([], "at least one criterion"),
        ([CriterionData("  ", "Mentions pollen.", OPT, 1)], "#1: title blank"),
        ([CriterionData("Pollen", "", OPT, 1)], "#1: description blank"),
        ([CriterionData("Pollen", "Mentions pollen.", OPT, float("nan"))], "is not a number"),
        (
            [
                CriterionData("A", "Mentions a.", OPT, 1, key="k"),
                CriterionData("B", "Mentions b.", OPT, 1, key="k"),
            ],
            "#2: key k repeats",
        ),
    ],
)
def test_blank_or_broken_criteria_save_nothing(
    world: World, criteria: list[CriterionData], message: str
) -> None:
    v1 = new_rubric(world)
    before = world.snapshot()
    with pytest.raises(InvalidInputError, match=message):
        world.do(
            save_version,
            world.users["emma"],
            v1.rubric_id,
            criteria,
            expected_lock_version=v1.rubric.lock_version,
            note="x",
        )
    with pytest.raises(InvalidInputError, match=message):
        world.do(create_rubric, world.users["emma"], world.prompts[1], criteria)
    assert world.snapshot() == before


def test_saving_identical_criteria_is_refused(world: World) -> None:
    v1 = new_rubric(world)
    before = world.snapshot()
    with pytest.raises(NoChangesError, match="equal the current version 1"):
        world.do(
            save_version,
            world.users["emma"],
            v1.rubric_id,
            list(v1.criteria),
            expected_lock_version=v1.rubric.lock_version,
            note="again",
        )
    assert world.snapshot() == before


# --- permissions ------------------------------------------------------------


def test_wrong_roles_cannot_write_rubrics(world: World) -> None:
    v1 = new_rubric(world)
    lock = v1.rubric.lock_version
    edited = [replace(c, weight=4) if c.category is IMP else c for c in v1.criteria]
    before = world.snapshot()
    for name in ("ann", "rita"):
        actor = world.users[name]
        with pytest.raises(PermissionDenied, match=f"{name} .* may not edit rubric"):
            world.do(
                save_version, actor, v1.rubric_id, edited, expected_lock_version=lock, note="x"
            )
        with pytest.raises(PermissionDenied):
            world.do(create_rubric, actor, world.prompts[1], rubric_items())
        with pytest.raises(PermissionDenied):
            world.do(submit_for_review, actor, v1.rubric_id, expected_lock_version=lock)
        with pytest.raises(PermissionDenied, match="may not review rubric"):
            world.do(approve, actor, v1.rubric_id, expected_lock_version=lock)
        with pytest.raises(PermissionDenied):
            world.do(assign_prompts, actor, world.prompts, "emma")
    assert world.snapshot() == before


# --- optimistic locking -----------------------------------------------------


def test_second_save_on_the_same_lock_is_refused_and_can_be_merged(world: World) -> None:
    new_rubric(world)
    emma_view = world.do(load_editor_state, world.prompts[0])
    omar_view = world.do(load_editor_state, world.prompts[0])
    assert emma_view.lock_version == omar_view.lock_version

    emma_edit = [replace(c, weight=4) if c.title == "Symptoms" else c for c in emma_view.criteria]
    world.do(
        save_version,
        world.users["emma"],
        emma_view.rubric_id,
        emma_edit,
        expected_lock_version=emma_view.lock_version,
        note="emma",
    )
    before = world.snapshot()

    omar_edit = list(omar_view.criteria)
    omar_edit.append(CriterionData("Cromolyn", "Recommends topical cromolyn drops.", OPT, 1))
    with pytest.raises(StaleEditError) as err:
        world.do(
            save_version,
            world.users["omar"],
            omar_view.rubric_id,
            omar_edit,
            expected_lock_version=omar_view.lock_version,
            note="omar",
        )
    message = str(err.value)
    assert "changed by emma at" in message and "UTC" in message and "version 2" in message
    assert "Nothing was saved" in message
    assert world.snapshot() == before  # nothing written, not even an audit entry

    # Omar still holds his edits: reload, merge onto the new head, save.
    fresh = world.do(load_editor_state, world.prompts[0])
    merged = [*fresh.criteria, omar_edit[-1]]
    v3 = world.do(
        save_version,
        world.users["omar"],
        fresh.rubric_id,
        merged,
        expected_lock_version=fresh.lock_version,
        note="omar, merged",
    )
    assert v3.number == 3
    assert [c.weight for c in v3.criteria if c.title == "Symptoms"] == [4.0]
    assert v3.criteria[-1].title == "Cromolyn"


def test_concurrent_saves_one_wins(world: World) -> None:
    """Two transactions save from the same lock_version at once. The first holds
    the row lock; the second waits for it and is then refused, whatever the timing."""
    v1 = new_rubric(world)
    lock = v1.rubric.lock_version
    outcome: dict[str, object] = {}

    def second() -> None:
        try:
            world.do(
                save_version,
                world.users["omar"],
                v1.rubric_id,
                [replace(c, weight=1) if c.category is OPT else c for c in v1.criteria][:-1],
                expected_lock_version=lock,
                note="omar",
            )
            outcome["omar"] = "saved"
        except StaleEditError as exc:
            outcome["omar"] = exc

    with world.factory() as s, s.begin():
        save_version(
            s,
            world.users["emma"],
            v1.rubric_id,
            v1.criteria[:-1],
            expected_lock_version=lock,
            note="emma",
        )
        thread = threading.Thread(target=second)
        thread.start()  # blocks on the row lock until we commit
    thread.join(timeout=60)
    assert isinstance(outcome["omar"], StaleEditError)
    assert [v.note for v in world.do(list_versions, v1.rubric_id)] == ["emma", "first"]


# --- workflow ---------------------------------------------------------------


def test_review_path_with_another_expert(world: World) -> None:
    v1 = new_rubric(world)
    emma, omar = world.users["emma"], world.users["omar"]
    s1 = world.do(
        submit_for_review, emma, v1.rubric_id, expected_lock_version=v1.rubric.lock_version
    )
    assert s1.status is RubricStatus.in_review

    with pytest.raises(PermissionDenied, match="emma wrote version 1, so cannot approve it"):
        world.do(approve, emma, v1.rubric_id, expected_lock_version=s1.lock_version)
    with pytest.raises(InvalidInputError, match="needs a comment"):
        world.do(reject, omar, v1.rubric_id, expected_lock_version=s1.lock_version, comment=" ")
    s2 = world.do(
        reject,
        omar,
        v1.rubric_id,
        expected_lock_version=s1.lock_version,
        comment="weight the papillae higher",
    )
    assert s2.status is RubricStatus.rejected

    v2 = world.do(
        save_version,
        emma,
        v1.rubric_id,
        [replace(c, weight=4) if c.title == "Giant Papillae" else c for c in v1.criteria],
        expected_lock_version=s2.lock_version,
        note="papillae 4",
    )
    assert v2.rubric.status is RubricStatus.draft
    s3 = world.do(
        submit_for_review, emma, v1.rubric_id, expected_lock_version=v2.rubric.lock_version
    )
    s4 = world.do(approve, omar, v1.rubric_id, expected_lock_version=s3.lock_version)
    assert (s4.status, s4.approved_version_id) == (RubricStatus.approved, v2.id)

    reviews = world.do(list_reviews, v1.rubric_id)
    assert [(r.action, r.version_number, r.user) for r in reviews] == [
        (ReviewAction.approve, 2, "omar"),
        (ReviewAction.submit, 2, "emma"),
        (ReviewAction.reject, 1, "omar"),
        (ReviewAction.submit, 1, "emma"),
    ]
    assert reviews[2].comment == "weight the papillae higher"
    rid = str(v1.rubric_id)
    assert world.audit() == [
        ("emma", "rubric.create", rid),
        ("emma", "rubric.submit", rid),
        ("omar", "rubric.reject", rid),
        ("emma", "rubric.save_version", rid),
        ("emma", "rubric.submit", rid),
        ("omar", "rubric.approve", rid),
    ]


def test_admin_may_approve_own_version(world: World) -> None:
    v1 = new_rubric(world, actor="admin")
    admin = world.users["admin"]
    s = world.do(
        submit_for_review, admin, v1.rubric_id, expected_lock_version=v1.rubric.lock_version
    )
    s = world.do(approve, admin, v1.rubric_id, expected_lock_version=s.lock_version)
    assert s.status is RubricStatus.approved


@pytest.mark.parametrize(
    ("path", "bad", "message"),
    [
        (
            [],
            approve,
            "cannot approve rubric .*: it is draft, and approve needs it to be in_review",
        ),
        ([], reopen, "cannot reopen rubric .*: it is draft"),
        (
            [submit_for_review],
            submit_for_review,
            "it is in_review, and submit needs it to be draft",
        ),
        ([retire], retire, "it is retired"),
        ([retire], submit_for_review, "it is retired"),
    ],
)
def test_illegal_transitions_are_refused(
    world: World, path: list[Callable[..., Any]], bad: Callable[..., Any], message: str
) -> None:
    v1 = new_rubric(world)
    lock = v1.rubric.lock_version
    for step in path:
        lock = world.do(
            step, world.users["emma"], v1.rubric_id, expected_lock_version=lock
        ).lock_version
    before = world.snapshot()
    with pytest.raises(WorkflowError, match=message):
        world.do(bad, world.users["omar"], v1.rubric_id, expected_lock_version=lock)
    assert world.snapshot() == before


def test_retired_rubric_must_be_reopened_before_editing(world: World) -> None:
    v1 = new_rubric(world)
    emma = world.users["emma"]
    s = world.do(
        retire,
        emma,
        v1.rubric_id,
        expected_lock_version=v1.rubric.lock_version,
        comment="duplicate prompt",
    )
    edited = list(v1.criteria[:-1])
    with pytest.raises(WorkflowError, match="retired; reopen it before editing"):
        world.do(
            save_version, emma, v1.rubric_id, edited, expected_lock_version=s.lock_version, note="x"
        )
    s = world.do(reopen, emma, v1.rubric_id, expected_lock_version=s.lock_version)
    assert s.status is RubricStatus.draft
    v2 = world.do(
        save_version, emma, v1.rubric_id, edited, expected_lock_version=s.lock_version, note="x"
    )
    assert v2.number == 2


def test_workflow_calls_check_the_lock_too(world: World) -> None:
    v1 = new_rubric(world)
    stale = v1.rubric.lock_version
    world.do(submit_for_review, world.users["emma"], v1.rubric_id, expected_lock_version=stale)
    with pytest.raises(StaleEditError, match="changed by emma"):
        world.do(approve, world.users["omar"], v1.rubric_id, expected_lock_version=stale)


def test_approval_with_lint_errors_needs_confirmation(world: World) -> None:
    items = rubric_items()
    items[6] = replace(items[6], title="Avoids Trachoma", description="Does not select trachoma.")
    v1 = world.do(create_rubric, world.users["emma"], world.prompts[0], items)
    s = world.do(
        submit_for_review,
        world.users["emma"],
        v1.rubric_id,
        expected_lock_version=v1.rubric.lock_version,
    )
    before = world.snapshot()
    with pytest.raises(LintErrorsRemain, match="1 lint error") as err:
        world.do(approve, world.users["omar"], v1.rubric_id, expected_lock_version=s.lock_version)
    assert [(f.rule, f.index) for f in err.value.findings] == [(POLARITY_AVOIDANCE, 6)]
    assert world.snapshot() == before
    s = world.do(
        approve,
        world.users["omar"],
        v1.rubric_id,
        expected_lock_version=s.lock_version,
        confirm_errors=True,
    )
    assert s.status is RubricStatus.approved
    with world.factory() as sess:
        details = sess.scalars(select(AuditEntry.details).filter_by(action="rubric.approve")).one()
    assert details["confirmed_lint_errors"] == [f"{POLARITY_AVOIDANCE}@6"]


def test_approval_stays_on_record_after_a_new_edit(world: World) -> None:
    v1 = new_rubric(world)
    emma, omar = world.users["emma"], world.users["omar"]
    s = world.do(
        submit_for_review, emma, v1.rubric_id, expected_lock_version=v1.rubric.lock_version
    )
    s = world.do(approve, omar, v1.rubric_id, expected_lock_version=s.lock_version)

    v2 = world.do(
        save_version,
        emma,
        v1.rubric_id,
        v1.criteria[:-1]
        + (CriterionData("Trachoma Named", "Names trachoma as the diagnosis.", PIT, -2),),
        expected_lock_version=s.lock_version,
        note="reword pitfall",
    )
    assert v2.rubric.status is RubricStatus.draft
    assert v2.rubric.approved_version_id == v1.id  # the approval is still on record
    versions = world.do(list_versions, v1.rubric_id)
    assert [(v.number, v.is_head, v.is_approved) for v in versions] == [
        (2, True, False),
        (1, False, True),
    ]
    reviews = world.do(list_reviews, v1.rubric_id)
    assert (reviews[0].action, reviews[0].version_id, reviews[0].user) == (
        ReviewAction.approve,
        v1.id,
        "omar",
    )


# --- diff -------------------------------------------------------------------


def test_diff_criteria_pure() -> None:
    a = rubric_items()
    b = [
        a[1],  # moved up
        a[0],
        replace(a[2], weight=3, description="Highlights that boys under 10 are most affected."),
        a[3],
        a[4],
        # a[5] removed
        a[6],
        CriterionData("Cromolyn", "Recommends topical cromolyn drops.", OPT, 1),
    ]
    d = diff_criteria(a, b)
    assert [c.title for c in d.added] == ["Cromolyn"]
    assert [c.title for c in d.removed] == ["Trachoma Unlikely"]
    changed = {c.after.title: c for c in d.changed}
    assert set(changed) == {"Seasonal Pattern", "Affected Group"}
    assert changed["Seasonal Pattern"].moved and not changed["Seasonal Pattern"].fields
    fields = {f.field: (f.before, f.after) for f in changed["Affected Group"].fields}
    assert fields == {
        "description": (a[2].description, "Highlights that boys under 10 are most affected."),
        "weight": (4.0, 3.0),
    }
    assert not changed["Affected Group"].moved
    assert d.unchanged == 4
    assert d.summary() == "1 added, 1 removed, 1 changed, 1 moved"
    assert diff_criteria(a, a).is_empty and diff_criteria(a, a).summary() == "no changes"
    # A criterion whose category changes, e.g. promoted to Essential.
    promoted = diff_criteria(a, [replace(a[5], category=ESS, weight=5), *a[:5], a[6]])
    assert [(f.field, f.after) for f in promoted.changed[0].fields] == [
        ("category", ESS),
        ("weight", 5.0),
    ]
    assert promoted.changed[0].moved  # it went from 6th to 1st


def test_diff_between_saved_versions(world: World) -> None:
    v1 = new_rubric(world)
    edited = [replace(c, weight=4) if c.title == "Giant Papillae" else c for c in v1.criteria]
    edited = [c for c in edited if c.title != "Affected Group"]
    edited.append(CriterionData("Cromolyn", "Recommends topical cromolyn drops.", OPT, 1))
    v2 = world.do(
        save_version,
        world.users["emma"],
        v1.rubric_id,
        edited,
        expected_lock_version=v1.rubric.lock_version,
        note="v2",
    )
    d = world.do(diff_versions, v1.id, v2.id)
    assert d.summary() == "1 added, 1 removed, 1 changed"
    assert [c.title for c in d.removed] == ["Affected Group"]
    assert [(f.field, f.before, f.after) for f in d.changed[0].fields] == [("weight", 3.0, 4.0)]
    back = world.do(diff_versions, v2.id, v1.id)
    assert [c.title for c in back.added] == ["Affected Group"]

    other = new_rubric(world, prompt=1)
    with pytest.raises(InvalidInputError, match="different rubrics"):
        world.do(diff_versions, v1.id, other.id)
    with pytest.raises(NotFoundError):
        world.do(diff_versions, v1.id, 999999)


# --- assignment -------------------------------------------------------------


def test_assign_prompts(world: World) -> None:
    emma, admin = world.users["emma"], world.users["admin"]
    assert world.do(assign_prompts, admin, world.prompts[:2], "Omar") == 2
    assert world.do(assign_prompts, emma, world.prompts, "omar") == 1  # two already were
    assert world.do(load_editor_state, world.prompts[2]).assignee == "omar"

    before = world.snapshot()
    with pytest.raises(InvalidInputError, match="ann cannot be assigned rubrics"):
        world.do(assign_prompts, emma, world.prompts, "ann")
    with pytest.raises(NotFoundError, match="no user named 'zoe'"):
        world.do(assign_prompts, emma, world.prompts, "zoe")
    with pytest.raises(NotFoundError, match="1 prompt id\\(s\\) do not exist: 999999"):
        world.do(assign_prompts, emma, [world.prompts[0], 999999], None)
    with pytest.raises(InvalidInputError, match="no prompts selected"):
        world.do(assign_prompts, emma, [], "omar")
    assert world.snapshot() == before
    assert world.do(load_editor_state, world.prompts[0]).assignee == "omar"

    assert world.do(assign_prompts, emma, [world.prompts[0]], None) == 1
    assert world.do(load_editor_state, world.prompts[0]).assignee is None
    assert [(a, act) for a, act, _ in world.audit()] == [
        ("admin", "prompt.assign"),
        ("admin", "prompt.assign"),
        ("emma", "prompt.assign"),
        ("emma", "prompt.assign"),
    ]


# --- restore this version ---------------------------------------------------------


def two_versions(w: World) -> tuple[Any, Any]:
    v1 = new_rubric(w)
    edited = [replace(v1.criteria[0], weight=2.0), *v1.criteria[1:]]
    v2 = w.do(save_version, w.users["emma"], v1.rubric_id, edited,
              expected_lock_version=v1.rubric.lock_version, note="lower")  # fmt: skip
    return v1, v2


def test_restore_adds_a_version_equal_to_the_old_one(world: World) -> None:
    v1, v2 = two_versions(world)
    lock, why = v2.rubric.lock_version, "the lower weight was wrong"
    v3 = world.do(restore_version, world.users["omar"], v1.rubric_id, 1,
                  expected_lock_version=lock, note=why)  # fmt: skip
    assert (v3.number, v3.parent_id, v3.source) == (3, v2.id, VersionSource.human)
    assert v3.note == "restored version 1: the lower weight was wrong"
    assert v3.content_hash == v1.content_hash and v3.is_head
    assert [c.key for c in v3.criteria] == [c.key for c in v1.criteria]  # labels follow
    assert world.audit()[-1] == ("omar", "rubric.restore", str(v1.rubric_id))


def test_refused_restores_change_nothing(world: World) -> None:
    v1, v2 = two_versions(world)
    before = world.snapshot()
    omar, lock = world.users["omar"], v2.rubric.lock_version
    with pytest.raises(StaleEditError, match="changed by emma"):
        world.do(restore_version, omar, v1.rubric_id, 1, expected_lock_version=lock - 1)
    with pytest.raises(NotFoundError, match="has no version 7"):
        world.do(restore_version, omar, v1.rubric_id, 7, expected_lock_version=lock)
    with pytest.raises(NoChangesError, match="equal the current version 2"):
        world.do(restore_version, omar, v1.rubric_id, 2, expected_lock_version=lock)
    assert world.snapshot() == before
    state = world.do(retire, world.users["admin"], v1.rubric_id, expected_lock_version=lock)
    before = world.snapshot()
    with pytest.raises(WorkflowError, match="retired; reopen it"):
        world.do(restore_version, omar, v1.rubric_id, 1, expected_lock_version=state.lock_version)
    assert world.snapshot() == before
    assert world.count(RubricVersion) == 2
