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

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC
from typing import Any

from rubricforge.models.accounts.orm import Role, User
from rubricforge.models.accounts.permissions import Action, UserInfo, require
from rubricforge.models.core.audit import AuditEntry, audit
from rubricforge.models.core.errors import (
    InvalidInputError,
    NoChangesError,
    NotFoundError,
    StaleEditError,
    WorkflowError,
)
from rubricforge.models.rubrics.criteria import CriterionData, content_hash
from rubricforge.models.rubrics.orm import (
    Category,
    Criterion,
    Prompt,
    Rubric,
    RubricStatus,
    RubricVersion,
    VersionSource,
)
from rubricforge.models.rubrics.queries import VersionInfo, username_of, version_info
from sqlalchemy import ARRAY, Integer, any_, bindparam, func, insert, select, update
from sqlalchemy.orm import Session


def lock_rubric(session: Session, rubric_id: int, expected_lock_version: int) -> Rubric:
    """The rubric row, locked for this transaction, if nobody wrote it since
    the caller loaded `expected_lock_version`; StaleEditError otherwise."""
    rubric = session.get(Rubric, rubric_id, with_for_update=True, populate_existing=True)
    if rubric is None:
        raise NotFoundError(f"no rubric with id {rubric_id}")
    if rubric.lock_version != expected_lock_version:
        who = username_of(session, rubric.updated_by_id) or "an import or the CLI"
        when = rubric.updated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        head = (
            session.get(RubricVersion, rubric.head_version_id) if rubric.head_version_id else None
        )
        raise StaleEditError(
            f"rubric {rubric_id} was changed by {who} at {when} after you loaded it "
            f"(it is now {rubric.status.value}, version {head.number if head else '-'}). "
            "Nothing was saved. Reload it, merge your edits into the current version, and "
            "save again."
        )
    return rubric


def clean_criteria(criteria: Sequence[CriterionData]) -> list[CriterionData]:
    """The criteria as they will be stored (text stripped, weight a float), or
    InvalidInputError if they cannot be: none at all, blank text, a weight that
    is not a finite number, or two rows sharing a key."""
    if not criteria:
        raise InvalidInputError("a rubric needs at least one criterion; nothing was saved")
    problems = []
    seen: set[str] = set()
    for i, c in enumerate(criteria, start=1):
        blank = [name for name in ("title", "description") if not getattr(c, name).strip()]
        if blank:
            problems.append(f"#{i}: {' and '.join(blank)} blank")
        if not isinstance(c.category, Category):
            problems.append(f"#{i}: category {c.category!r} is not a Category")
        if isinstance(c.weight, bool) or not math.isfinite(c.weight):
            problems.append(f"#{i}: weight {c.weight!r} is not a number")
        if c.key in seen:
            problems.append(f"#{i}: key {c.key} repeats an earlier criterion")
        seen.add(c.key)
    if problems:
        raise InvalidInputError(
            "criteria cannot be saved; nothing was saved:\n  " + "\n  ".join(problems)
        )
    return [
        replace(c, title=c.title.strip(), description=c.description.strip(), weight=float(c.weight))
        for c in criteria
    ]


def _add_version(
    session: Session,
    actor: UserInfo,
    rubric: Rubric,
    criteria: Sequence[CriterionData],
    *,
    note: str,
    source: VersionSource,
    llm_model: str | None,
    template_hash: str | None,
) -> RubricVersion:
    number = session.scalar(select(func.max(RubricVersion.number)).filter_by(rubric_id=rubric.id))
    version = RubricVersion(
        rubric_id=rubric.id,
        number=(number or 0) + 1,
        parent_id=rubric.head_version_id,
        source=source,
        note=note.strip(),
        created_by_id=actor.id,
        llm_model=llm_model,
        template_hash=template_hash,
        content_hash=content_hash(criteria),
    )
    session.add(version)
    session.flush()
    session.add_all(
        Criterion(
            version_id=version.id,
            position=position,
            key=c.key,
            title=c.title,
            description=c.description,
            category=c.category,
            weight=c.weight,
            tags=list(c.tags),
            flags=c.flags,
        )
        for position, c in enumerate(criteria)
    )
    rubric.head_version_id = version.id
    rubric.status = RubricStatus.draft
    rubric.updated_by_id = actor.id
    session.flush()
    return version


def _audit_version(
    session: Session,
    actor: UserInfo,
    action: str,
    rubric: Rubric,
    version: RubricVersion,
    **extra: Any,
) -> None:
    audit(
        session,
        actor=actor.username,
        user_id=actor.id,
        action=action,
        entity="rubric",
        entity_id=rubric.id,
        details={
            "version_id": version.id,
            "number": version.number,
            "source": version.source.value,
            "note": version.note,
            "content_hash": version.content_hash,
            **extra,
        },
    )


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
    version = _add_version(
        session,
        actor,
        rubric,
        criteria,
        note=note,
        source=source,
        llm_model=llm_model,
        template_hash=template_hash,
    )
    _audit_version(session, actor, "rubric.create", rubric, version, prompt_id=prompt_id)
    return version_info(session, version, rubric, criteria)


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
    """Save `criteria` as the rubric's next immutable version and make it the head.

    The rubric goes (back) to draft: an in-review rubric needs submitting again,
    and an approved one keeps its approval on record (`approved_version_id` and
    the review row) while the new version awaits review.
    """
    require(actor, Action.edit_rubric)
    criteria = clean_criteria(criteria)
    rubric = lock_rubric(session, rubric_id, expected_lock_version)
    if rubric.status is RubricStatus.retired:
        raise WorkflowError(f"rubric {rubric_id} is retired; reopen it before editing")
    head = session.get(RubricVersion, rubric.head_version_id) if rubric.head_version_id else None
    if head is not None and head.content_hash == content_hash(criteria):
        raise NoChangesError(
            f"nothing to save: the criteria equal the current version {head.number}"
        )
    previous_status = rubric.status
    version = _add_version(
        session,
        actor,
        rubric,
        criteria,
        note=note,
        source=source,
        llm_model=llm_model,
        template_hash=template_hash,
    )
    _audit_version(
        session,
        actor,
        "rubric.save_version",
        rubric,
        version,
        previous_status=previous_status.value,
    )
    return version_info(session, version, rubric, criteria)


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
