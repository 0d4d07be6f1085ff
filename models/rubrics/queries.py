"""Read queries over rubrics: versions, review history, diffs, the editor's state.

Plain dataclasses come back, never ORM objects, so pages can keep them in
session state and nothing lazy-loads after the session closes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from rubricforge.models.accounts.orm import User
from rubricforge.models.core.errors import InvalidInputError, NotFoundError
from rubricforge.models.rubrics.criteria import CriterionData
from rubricforge.models.rubrics.diff import RubricDiff, diff_criteria
from rubricforge.models.rubrics.orm import (
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
from sqlalchemy import select
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class RubricState:
    """A rubric's workflow state; `lock_version` is what the next write must carry."""

    rubric_id: int
    prompt_id: int
    status: RubricStatus
    lock_version: int
    head_version_id: int | None
    approved_version_id: int | None


@dataclass(frozen=True)
class VersionInfo:
    id: int
    rubric_id: int
    number: int
    parent_id: int | None
    source: VersionSource
    note: str
    created_by: str | None  # username; None for imports without a user
    created_at: datetime
    content_hash: str
    llm_model: str | None
    template_hash: str | None
    criteria: tuple[CriterionData, ...]
    rubric: RubricState  # the rubric as it is now (after the write, for save_version)

    @property
    def is_head(self) -> bool:
        return self.rubric.head_version_id == self.id

    @property
    def is_approved(self) -> bool:
        return self.rubric.approved_version_id == self.id


@dataclass(frozen=True)
class ReviewInfo:
    action: ReviewAction
    version_id: int
    version_number: int
    user: str | None
    comment: str
    created_at: datetime


@dataclass(frozen=True)
class EditorState:
    """Everything the editor page shows for one prompt."""

    prompt_id: int
    dataset: str
    external_id: str
    question: str
    reference_answer: str
    assignee: str | None
    rubric_id: int | None  # None: the prompt has no rubric yet (use create_rubric)
    status: RubricStatus | None
    lock_version: int | None
    head_version_id: int | None
    head_version_number: int | None
    approved_version_id: int | None
    criteria: tuple[CriterionData, ...]


def state_of(rubric: Rubric) -> RubricState:
    return RubricState(
        rubric_id=rubric.id,
        prompt_id=rubric.prompt_id,
        status=rubric.status,
        lock_version=rubric.lock_version,
        head_version_id=rubric.head_version_id,
        approved_version_id=rubric.approved_version_id,
    )


def username_of(session: Session, user_id: int | None) -> str | None:
    return None if user_id is None else session.scalar(select(User.username).filter_by(id=user_id))


def _criteria_of(session: Session, version_ids: Sequence[int]) -> dict[int, list[CriterionData]]:
    rows = session.scalars(
        select(Criterion)
        .where(Criterion.version_id.in_(version_ids))
        .order_by(Criterion.version_id, Criterion.position)
    )
    out: dict[int, list[CriterionData]] = defaultdict(list)
    for r in rows:
        out[r.version_id].append(
            CriterionData(
                title=r.title,
                description=r.description,
                category=r.category,
                weight=r.weight,
                key=r.key,
                tags=tuple(r.tags),
            )
        )
    return out


def version_info(
    session: Session, v: RubricVersion, rubric: Rubric, criteria: Sequence[CriterionData]
) -> VersionInfo:
    return VersionInfo(
        id=v.id,
        rubric_id=v.rubric_id,
        number=v.number,
        parent_id=v.parent_id,
        source=v.source,
        note=v.note,
        created_by=username_of(session, v.created_by_id),
        created_at=v.created_at,
        content_hash=v.content_hash,
        llm_model=v.llm_model,
        template_hash=v.template_hash,
        criteria=tuple(criteria),
        rubric=state_of(rubric),
    )


def get_version(session: Session, version_id: int) -> VersionInfo:
    version = session.get(RubricVersion, version_id)
    if version is None:
        raise NotFoundError(f"no rubric version with id {version_id}")
    rubric = session.get_one(Rubric, version.rubric_id)
    return version_info(session, version, rubric, _criteria_of(session, [version_id])[version_id])


def list_versions(session: Session, rubric_id: int) -> list[VersionInfo]:
    """Every version of a rubric, newest first."""
    rubric = session.get(Rubric, rubric_id)
    if rubric is None:
        raise NotFoundError(f"no rubric with id {rubric_id}")
    versions = session.scalars(
        select(RubricVersion).filter_by(rubric_id=rubric_id).order_by(RubricVersion.number.desc())
    ).all()
    criteria = _criteria_of(session, [v.id for v in versions])
    return [version_info(session, v, rubric, criteria[v.id]) for v in versions]


def list_reviews(session: Session, rubric_id: int) -> list[ReviewInfo]:
    """The rubric's workflow events (submit, approve, reject, ...), newest first."""
    rows = session.execute(
        select(RubricReview, RubricVersion.number, User.username)
        .join(RubricVersion, RubricVersion.id == RubricReview.version_id)
        .outerjoin(User, User.id == RubricReview.user_id)
        .where(RubricReview.rubric_id == rubric_id)
        .order_by(RubricReview.id.desc())
    ).all()
    return [
        ReviewInfo(r.action, r.version_id, number, username, r.comment, r.created_at)
        for r, number, username in rows
    ]


def diff_versions(session: Session, version_a_id: int, version_b_id: int) -> RubricDiff:
    """What changed from version a to version b (any two versions of one rubric)."""
    a, b = get_version(session, version_a_id), get_version(session, version_b_id)
    if a.rubric_id != b.rubric_id:
        raise InvalidInputError(
            f"versions {version_a_id} and {version_b_id} belong to different rubrics; "
            "pick two versions of the same rubric"
        )
    return diff_criteria(a.criteria, b.criteria)


def load_editor_state(session: Session, prompt_id: int) -> EditorState:
    row = session.execute(
        select(Prompt, Dataset.name, User.username)
        .join(Dataset, Dataset.id == Prompt.dataset_id)
        .outerjoin(User, User.id == Prompt.assignee_id)
        .where(Prompt.id == prompt_id)
    ).first()
    if row is None:
        raise NotFoundError(f"no prompt with id {prompt_id}")
    prompt, dataset, assignee = row
    rubric = session.scalar(select(Rubric).filter_by(prompt_id=prompt_id))
    head = (
        session.get(RubricVersion, rubric.head_version_id)
        if rubric and rubric.head_version_id
        else None
    )
    criteria = _criteria_of(session, [head.id])[head.id] if head else []
    return EditorState(
        prompt_id=prompt.id,
        dataset=dataset,
        external_id=prompt.external_id,
        question=prompt.question,
        reference_answer=prompt.reference_answer,
        assignee=assignee,
        rubric_id=rubric.id if rubric else None,
        status=rubric.status if rubric else None,
        lock_version=rubric.lock_version if rubric else None,
        head_version_id=head.id if head else None,
        head_version_number=head.number if head else None,
        approved_version_id=rubric.approved_version_id if rubric else None,
        criteria=tuple(criteria),
    )
