"""One prompt's rubric as the Prompts page shows it: the question and reference, the
criteria of a chosen version (the head by default), every version and the review log.

Plain frozen dataclasses come back, read with a fixed number of statements.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rubricforge.models.accounts.orm import User
from rubricforge.models.core.errors import NotFoundError
from rubricforge.models.rubrics.criteria import current_flags
from rubricforge.models.rubrics.orm import (
    Criterion,
    Dataset,
    Prompt,
    Rubric,
    RubricReview,
    RubricVersion,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class CriterionRow:
    position: int
    key: str
    title: str
    description: str
    category: str
    weight: float
    flags: list[str]


@dataclass(frozen=True)
class VersionRow:
    number: int
    source: str
    author: str | None
    created_at: datetime
    note: str
    llm_model: str | None
    content_hash: str
    criteria: int


@dataclass(frozen=True)
class ReviewRow:
    action: str
    user: str | None
    version: int
    comment: str
    created_at: datetime


@dataclass(frozen=True)
class RubricDetail:
    prompt_id: int
    dataset: str
    external_id: str
    question: str
    reference_answer: str
    tags: list[str]
    status: str | None  # None: the prompt has no rubric yet
    head_version: int | None
    approved_version: int | None
    shown_version: int | None  # the version `criteria` belongs to
    criteria: list[CriterionRow]
    versions: list[VersionRow]
    reviews: list[ReviewRow]


def rubric_detail(session: Session, prompt_id: int, *, version: int | None = None) -> RubricDetail:
    """A prompt with its rubric: the head version's criteria (or `version`'s),
    the version history and the review events."""
    row = session.execute(
        select(Prompt, Dataset.name, Rubric)
        .join(Dataset, Dataset.id == Prompt.dataset_id)
        .outerjoin(Rubric, Rubric.prompt_id == Prompt.id)
        .where(Prompt.id == prompt_id)
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"No prompt with id {prompt_id}.")
    prompt, dataset, rubric = row
    versions: list[VersionRow] = []
    reviews: list[ReviewRow] = []
    criteria: list[CriterionRow] = []
    numbers: dict[int, int] = {}  # version id -> number
    shown_id: int | None = None
    if rubric is not None:
        n_criteria = (
            select(func.count())
            .where(Criterion.version_id == RubricVersion.id)
            .correlate(RubricVersion)
            .scalar_subquery()
        )
        for v, author, count in session.execute(
            select(RubricVersion, User.username, n_criteria)
            .outerjoin(User, User.id == RubricVersion.created_by_id)
            .where(RubricVersion.rubric_id == rubric.id)
            .order_by(RubricVersion.number)
        ):
            numbers[v.id] = v.number
            versions.append(
                VersionRow(
                    v.number,
                    v.source.value,
                    author,
                    v.created_at,
                    v.note,
                    v.llm_model,
                    v.content_hash,
                    count,
                )
            )
        reviews = [
            ReviewRow(r.action.value, user, numbers[r.version_id], r.comment, r.created_at)
            for r, user in session.execute(
                select(RubricReview, User.username)
                .outerjoin(User, User.id == RubricReview.user_id)
                .where(RubricReview.rubric_id == rubric.id)
                .order_by(RubricReview.id)
            )
        ]
        by_number = {n: vid for vid, n in numbers.items()}
        shown_id = rubric.head_version_id if version is None else by_number.get(version)
        if shown_id is None:
            raise NotFoundError(
                f"The rubric of prompt {prompt.external_id} has no version {version} "
                f"(it has versions 1-{len(versions)})."
            )
        criteria = [
            CriterionRow(
                c.position,
                c.key,
                c.title,
                c.description,
                c.category.value,
                c.weight,
                current_flags(c.title, c.description, c.weight, c.flags or []),
            )  # fmt: skip
            for c in session.scalars(
                select(Criterion)
                .where(Criterion.version_id == shown_id)
                .order_by(Criterion.position)
            )
        ]
    elif version is not None:
        raise NotFoundError(f"Prompt {prompt.external_id} has no rubric yet.")
    head = numbers.get(rubric.head_version_id or 0) if rubric else None
    approved = numbers.get(rubric.approved_version_id or 0) if rubric else None
    return RubricDetail(
        prompt_id=prompt.id,
        dataset=dataset,
        external_id=prompt.external_id,
        question=prompt.question,
        reference_answer=prompt.reference_answer,
        tags=list(prompt.tags or []),
        status=rubric.status.value if rubric else None,
        head_version=head,
        approved_version=approved,
        shown_version=numbers.get(shown_id or 0),
        criteria=criteria,
        versions=versions,
        reviews=reviews,
    )
