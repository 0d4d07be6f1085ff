"""Writing rubric versions: create a rubric, save versions, assign prompts.

The editor page, the CLI, the drafting code and the tests all write rubrics
through these functions. Each one that writes takes the acting user, checks
their permission first, and records an audit entry in the caller's session;
the caller commits (one unit of work, `models.core.db.session_scope`).

Optimistic locking: a caller passes the `lock_version` it loaded. The rubric
row is locked (`FOR UPDATE`) and compared; if someone saved in between, the
call raises StaleEditError naming who and when, and adds nothing to the
session, so the caller still holds its edits and can merge and save again.
`Rubric.lock_version` is also SQLAlchemy's version counter, so a write that
slipped past the check would still fail rather than overwrite.

Review transitions live in `models.rubrics.workflow`, reads in `models.rubrics.queries`;
`models.rubrics.authoring` gathers all three for callers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from rubricforge.models.accounts.orm import Role, User
from rubricforge.models.accounts.permissions import Action, UserInfo, require
from rubricforge.models.core.audit import AuditEntry
from rubricforge.models.core.errors import InvalidInputError, NotFoundError, StaleEditError
from rubricforge.models.rubrics.append import NewVersion, append_versions, stale_error
from rubricforge.models.rubrics.criteria import CriterionData, criteria_problems
from rubricforge.models.rubrics.orm import (
    Criterion,
    Prompt,
    Rubric,
    RubricStatus,
    RubricVersion,
    VersionSource,
)
from rubricforge.models.rubrics.queries import VersionInfo, version_info
from sqlalchemy import ARRAY, Integer, any_, bindparam, insert, select, update
from sqlalchemy.orm import Session


def lock_rubric(session: Session, rubric_id: int, expected_lock_version: int) -> Rubric:
    """The rubric row, locked for this transaction, if nobody wrote it since
    the caller loaded `expected_lock_version`; StaleEditError otherwise."""
    rubric = session.get(Rubric, rubric_id, with_for_update=True, populate_existing=True)
    if rubric is None:
        raise NotFoundError(f"no rubric with id {rubric_id}")
    if rubric.lock_version != expected_lock_version:
        raise stale_error(session.connection(), rubric_id)
    return rubric


def clean_criteria(criteria: Sequence[CriterionData]) -> list[CriterionData]:
    """The criteria as they will be stored (text stripped, weight a float), or
    InvalidInputError if they cannot be (`criteria_problems`: none at all, more
    than the maximum, blank text, a weight that is not a bounded number, or two
    rows sharing a key)."""
    if not criteria:
        raise InvalidInputError("a rubric needs at least one criterion; nothing was saved")
    problems = criteria_problems(criteria)
    if problems:
        raise InvalidInputError(
            "criteria cannot be saved; nothing was saved:\n  " + "\n  ".join(problems)
        )
    return [
        replace(c, title=c.title.strip(), description=c.description.strip(), weight=float(c.weight))
        for c in criteria
    ]


def _append_one(
    session: Session,
    actor: UserInfo,
    rubric_id: int,
    criteria: list[CriterionData],
    *,
    expected_lock_version: int,
    action: str,
    note: str,
    source: VersionSource,
    llm_model: str | None = None,
    template_hash: str | None = None,
    audit_extra: dict[str, Any] | None = None,
) -> VersionInfo:
    """One version through `append_versions`, then the ORM view of it."""
    session.flush()
    item = NewVersion(
        rubric_id,
        criteria,
        source,
        note=note,
        llm_model=llm_model,
        template_hash=template_hash,
        expected_lock_version=expected_lock_version,
        audit=audit_extra or {},
    )
    (added,) = append_versions(session.connection(), actor, [item], audit_action=action)
    rubric = session.get(Rubric, rubric_id, populate_existing=True)
    version = session.get(RubricVersion, added.version_id)
    assert rubric is not None and version is not None  # just written, same transaction
    return version_info(session, version, rubric, added.criteria)


def create_rubric(
    session: Session,
    actor: UserInfo,
    prompt_id: int,
    criteria: Sequence[CriterionData],
    *,
    note: str = "",
    source: VersionSource = VersionSource.human,
    llm_model: str | None = None,
    template_hash: str | None = None,
) -> VersionInfo:
    """The first rubric of a prompt that has none: version 1, status draft."""
    require(actor, Action.edit_rubric)
    criteria = clean_criteria(criteria)
    # Locking the prompt serialises two experts creating its rubric at once.
    if session.get(Prompt, prompt_id, with_for_update=True) is None:
        raise NotFoundError(f"no prompt with id {prompt_id}")
    existing = session.scalar(select(Rubric.id).filter_by(prompt_id=prompt_id))
    if existing is not None:
        raise StaleEditError(
            f"prompt {prompt_id} already has rubric {existing} (someone may have just created "
            "it); nothing was saved. Reload the prompt and save your criteria as a new version."
        )
    rubric = Rubric(prompt_id=prompt_id, status=RubricStatus.draft, updated_by_id=actor.id)
    session.add(rubric)
    session.flush()
    return _append_one(
        session,
        actor,
        rubric.id,
        criteria,
        expected_lock_version=rubric.lock_version,
        action="rubric.create",
        note=note,
        source=source,
        llm_model=llm_model,
        template_hash=template_hash,
        audit_extra={"prompt_id": prompt_id},
    )


def save_version(
    session: Session,
    actor: UserInfo,
    rubric_id: int,
    criteria: Sequence[CriterionData],
    *,
    expected_lock_version: int,
    note: str,
    source: VersionSource = VersionSource.human,
    llm_model: str | None = None,
    template_hash: str | None = None,
) -> VersionInfo:
    """Save `criteria` as the rubric's next immutable version and make it the head
    (`models.rubrics.append`: stale, retired and unchanged saves are refused).

    The rubric goes (back) to draft: an in-review rubric needs submitting again,
    and an approved one keeps its approval on record (`approved_version_id` and
    the review row) while the new version awaits review.
    """
    require(actor, Action.edit_rubric)
    criteria = clean_criteria(criteria)
    return _append_one(
        session,
        actor,
        rubric_id,
        criteria,
        expected_lock_version=expected_lock_version,
        action="rubric.save_version",
        note=note,
        source=source,
        llm_model=llm_model,
        template_hash=template_hash,
    )


def restore_version(
    session: Session,
    actor: UserInfo,
    rubric_id: int,
    number: int,
    *,
    expected_lock_version: int,
    note: str = "",
) -> VersionInfo:
    """A new version equal to version `number` of the rubric (its criteria with
    their keys, so labels and revision requests follow them), made the head like
    any edit. Nothing is deleted: the versions in between stay in the history."""
    require(actor, Action.edit_rubric)
    old = session.scalar(select(RubricVersion).filter_by(rubric_id=rubric_id, number=number))
    if old is None:
        raise NotFoundError(f"rubric {rubric_id} has no version {number}; nothing was restored")
    rows = session.scalars(
        select(Criterion).filter_by(version_id=old.id).order_by(Criterion.position)
    ).all()
    criteria = [
        CriterionData(c.title, c.description, c.category, c.weight, key=c.key, tags=tuple(c.tags))
        for c in rows
    ]
    text = f"restored version {number}" + (f": {note.strip()}" if note.strip() else "")
    return _append_one(
        session,
        actor,
        rubric_id,
        clean_criteria(criteria),
        expected_lock_version=expected_lock_version,
        action="rubric.restore",
        note=text,
        source=VersionSource.human,
        audit_extra={"restored_from": number},
    )


def assign_prompts(
    session: Session, actor: UserInfo, prompt_ids: Sequence[int], assignee_username: str | None
) -> int:
    """Assign prompts to an expert or admin (None: unassign). Returns how many changed."""
    require(actor, Action.assign_prompts)
    ids = sorted(set(prompt_ids))
    if not ids:
        raise InvalidInputError("no prompts selected; nothing was assigned")
    assignee: User | None = None
    if assignee_username is not None:
        name = assignee_username.strip().lower()
        assignee = session.scalar(select(User).filter_by(username=name))
        if assignee is None:
            raise NotFoundError(f"no user named {assignee_username!r}")
        if not assignee.is_active or assignee.role not in (Role.expert, Role.admin):
            raise InvalidInputError(
                f"{assignee.username} cannot be assigned rubrics: assign an active expert or admin"
            )

    # Whole filtered selections (20k prompts) are assigned at once, so this is
    # set-based: one array parameter, one UPDATE, one multi-row audit INSERT.
    def id_array(values: list[int]) -> Any:
        return any_(bindparam("ids", values, type_=ARRAY(Integer)))

    rows = session.execute(
        select(Prompt.id, Prompt.assignee_id)
        .where(Prompt.id == id_array(ids))
        .order_by(Prompt.id)
        .with_for_update()
    )
    current = {prompt_id: assignee_id for prompt_id, assignee_id in rows}
    missing = [i for i in ids if i not in current]
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise NotFoundError(f"{len(missing)} prompt id(s) do not exist: {shown}; nothing assigned")
    new_id = assignee.id if assignee else None
    changed = [i for i in ids if current[i] != new_id]
    if changed:
        session.execute(
            update(Prompt).where(Prompt.id == id_array(changed)).values(assignee_id=new_id),
            execution_options={"synchronize_session": False},
        )
        assignee_name = assignee.username if assignee else None
        session.execute(
            insert(AuditEntry),
            [
                {
                    "user_id": actor.id,
                    "actor": actor.username,
                    "action": "prompt.assign",
                    "entity": "prompt",
                    "entity_id": str(i),
                    "details": {"assignee": assignee_name, "previous_assignee_id": current[i]},
                }
                for i in changed
            ],
        )
    return len(changed)
