"""Read-only queries the app's pages (and the CLI) call.

Each function takes a Session and returns plain frozen dataclasses, so no ORM
object (and no lazy load) ever reaches a page. Every function runs a fixed,
small number of statements whatever the number of rows: no per-row queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from rubricforge.models.accounts.orm import User
from rubricforge.models.core.errors import NotFoundError, RubricforgeError
from rubricforge.models.core.limits import search_text
from rubricforge.models.rubrics.flags import flagged_clause
from rubricforge.models.rubrics.orm import (
    Criterion,
    Dataset,
    Prompt,
    Rubric,
    RubricStatus,
    RubricVersion,
)
from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session, aliased

NO_RUBRIC: Final = "none"  # status filter: prompts that have no rubric yet
UNASSIGNED: Final = "(unassigned)"  # assignee filter: prompts nobody is assigned (not a username)
MAX_PAGE_SIZE: Final = 500
StatusFilter = RubricStatus | str | None  # a RubricStatus value, NO_RUBRIC, or None: all


@dataclass(frozen=True)
class DatasetRow:
    dataset: str
    prompts: int
    without_rubric: int
    by_status: dict[str, int]  # every RubricStatus value, zero when absent
    criteria: int  # criteria in the rubrics' head versions
    flagged: int  # of those, criteria with lint flags (e.g. pitfall polarity)


@dataclass(frozen=True)
class PromptRow:
    id: int
    dataset: str
    external_id: str
    question: str
    tags: list[str]
    status: str | None  # None: no rubric yet
    version: int | None  # head version number
    criteria: int
    flagged: int
    assignee: str | None = None  # username


@dataclass(frozen=True)
class Page:
    items: list[PromptRow]
    total: int  # rows matching the filters, over all pages
    limit: int
    offset: int

    @property
    def number(self) -> int:
        return self.offset // self.limit + 1

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.limit))


def dataset_names(session: Session) -> list[str]:
    return list(session.scalars(select(Dataset.name).order_by(Dataset.name)))


def dataset_overview(session: Session) -> list[DatasetRow]:
    """Per dataset: prompts, rubrics per status, head-version criteria and flagged ones."""
    per_status = [
        func.count(Rubric.id).filter(Rubric.status == status).label(status.value)
        for status in RubricStatus
    ]
    rows = session.execute(
        select(
            Dataset.id,
            Dataset.name,
            func.count(Prompt.id).label("prompts"),
            func.count(Prompt.id).filter(Rubric.id.is_(None)).label("without_rubric"),
            *per_status,
        )
        .select_from(Dataset)
        .outerjoin(Prompt, Prompt.dataset_id == Dataset.id)
        .outerjoin(Rubric, Rubric.prompt_id == Prompt.id)
        .group_by(Dataset.id, Dataset.name)
        .order_by(Dataset.name)
    ).all()
    criteria = {
        dataset_id: (total, flagged)
        for dataset_id, total, flagged in session.execute(
            select(
                Prompt.dataset_id,
                func.count(Criterion.id),
                func.count(Criterion.id).filter(flagged_clause()),
            )
            .join(Rubric, Rubric.prompt_id == Prompt.id)
            .join(Criterion, Criterion.version_id == Rubric.head_version_id)
            .group_by(Prompt.dataset_id)
        )
    }
    return [
        DatasetRow(
            dataset=r.name,
            prompts=r.prompts,
            without_rubric=r.without_rubric,
            by_status={s.value: r._mapping[s.value] for s in RubricStatus},
            criteria=criteria.get(r.id, (0, 0))[0],
            flagged=criteria.get(r.id, (0, 0))[1],
        )
        for r in rows
    ]


def _prompt_filters(
    session: Session,
    dataset: str | None,
    assignee: str | None,
    tag: str | None,
    text: str | None,
    reviewer: str | None = None,
) -> list[ColumnElement[bool]]:
    """The WHERE clauses every prompt listing shares (all but the status)."""
    where: list[ColumnElement[bool]] = []
    if dataset is not None:
        dataset_id = session.scalar(select(Dataset.id).where(Dataset.name == dataset))
        if dataset_id is None:
            raise NotFoundError(f"No dataset named '{dataset}'.")
        where.append(Prompt.dataset_id == dataset_id)
    if assignee == UNASSIGNED:
        where.append(Prompt.assignee_id.is_(None))
    elif assignee is not None:
        # A subquery, not a lookup: no extra statement, and an unknown name matches nothing.
        user_id = select(User.id).where(User.username == assignee.strip().lower())
        where.append(Prompt.assignee_id == user_id.scalar_subquery())
    if tag:
        where.append(Prompt.tags.contains([tag]))  # @>, which the GIN index serves
    if (needle := search_text(text)) is not None:
        # The head version's criteria (title or description) count too; the
        # trigram indexes (migration 0011) serve every ILIKE here.
        in_criteria = (
            select(Criterion.id)
            .join(Rubric, Criterion.version_id == Rubric.head_version_id)
            .where(
                Rubric.prompt_id == Prompt.id,
                or_(
                    Criterion.title.icontains(needle, autoescape=True),
                    Criterion.description.icontains(needle, autoescape=True),
                ),
            )
            .correlate(Prompt)
            .exists()
        )
        where.append(
            or_(
                Prompt.question.icontains(needle, autoescape=True),
                Prompt.external_id.icontains(needle, autoescape=True),
                Prompt.reference_answer.icontains(needle, autoescape=True),
                in_criteria,
            )
        )
    if reviewer is not None:
        where.append(_awaiting_review_by(reviewer))
    return where


def _awaiting_review_by(username: str) -> ColumnElement[bool]:
    """In review, and its head version written by someone else (the author of a
    version never reviews it), so `username` may approve or reject it."""
    me = select(User.id).where(User.username == username.strip().lower()).scalar_subquery()
    author = (
        select(RubricVersion.created_by_id)
        .where(RubricVersion.id == Rubric.head_version_id)
        .correlate(Rubric)
        .scalar_subquery()
    )
    return and_(
        Rubric.status == RubricStatus.in_review,
        or_(author.is_(None), author != me),
    )


def _status_filters(
    session: Session,
    dataset: str | None,
    status: StatusFilter,
    assignee: str | None,
    tag: str | None,
    text: str | None,
    reviewer: str | None,
) -> list[ColumnElement[bool]]:
    """Every filter of a prompt listing, the status included (Rubric outer-joined)."""
    if status is not None and status != NO_RUBRIC and not isinstance(status, RubricStatus):
        try:
            status = RubricStatus(status)
        except ValueError:
            choices = ", ".join([*(s.value for s in RubricStatus), NO_RUBRIC])
            raise RubricforgeError(f"Unknown status '{status}'; use one of: {choices}.") from None
    where = _prompt_filters(session, dataset, assignee, tag, text, reviewer)
    if status == NO_RUBRIC:
        where.append(Rubric.id.is_(None))
    elif status is not None:
        where.append(Rubric.status == status)
    return where


def adjacent_prompts(
    session: Session,
    prompt_id: int,
    *,
    dataset: str | None = None,
    status: StatusFilter = None,
    assignee: str | None = None,
    tag: str | None = None,
    text: str | None = None,
    awaiting_review_by: str | None = None,
) -> tuple[int | None, int | None]:
    """The prompts before and after `prompt_id` in the listing these filters give
    (the Prompts page's order, by id): the editor's previous and next. One statement."""
    where = _status_filters(session, dataset, status, assignee, tag, text, awaiting_review_by)
    ids = select(Prompt.id).outerjoin(Rubric, Rubric.prompt_id == Prompt.id).where(*where)
    before = ids.where(Prompt.id < prompt_id).order_by(Prompt.id.desc()).limit(1)
    after = ids.where(Prompt.id > prompt_id).order_by(Prompt.id).limit(1)
    row = session.execute(select(before.scalar_subquery(), after.scalar_subquery())).one()
    return row[0], row[1]


def list_prompts(
    session: Session,
    *,
    dataset: str | None = None,
    status: StatusFilter = None,
    assignee: str | None = None,
    tag: str | None = None,
    text: str | None = None,
    awaiting_review_by: str | None = None,
    limit: int = 50,
    offset: int = 0,
    total: int | None = None,
) -> Page:
    """One page of prompts matching the filters, with the total count.

    Two statements: a COUNT and the page itself (offset pagination over the
    primary key). A caller that knows the count (`status_counts` under the same
    filters gives it) passes it as `total`, and the COUNT is skipped: with a text
    search, each statement matches the text again.

    `text` matches, any case, the question, the external id, the reference answer
    or a criterion of the current version; `assignee` is a username or UNASSIGNED;
    `tag` one tag the prompt carries; `awaiting_review_by` a username: rubrics in
    review that this user did not write.
    """
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise RubricforgeError(f"Page size must be between 1 and {MAX_PAGE_SIZE}, not {limit}.")
    if offset < 0:
        raise RubricforgeError(f"Offset must be 0 or more, not {offset}.")
    where = _status_filters(session, dataset, status, assignee, tag, text, awaiting_review_by)

    def filtered(stmt: Select) -> Select:  # type: ignore[type-arg]
        return stmt.outerjoin(Rubric, Rubric.prompt_id == Prompt.id).where(*where)

    if total is None:
        total = session.scalar(filtered(select(func.count()).select_from(Prompt))) or 0
    head = aliased(RubricVersion)
    n_criteria = (
        select(func.count())
        .where(Criterion.version_id == Rubric.head_version_id)
        .correlate(Rubric)
        .scalar_subquery()
    )
    n_flagged = (
        select(func.count())
        .where(
            Criterion.version_id == Rubric.head_version_id,
            flagged_clause(),
        )
        .correlate(Rubric)
        .scalar_subquery()
    )
    # The page's ids are picked first, so the per-row counts run only for the rows
    # shown, not for every row an offset skips: the last page costs what the first does.
    page_ids = (
        filtered(select(Prompt.id).select_from(Prompt))
        .order_by(Prompt.id)
        .limit(limit)
        .offset(offset)
        .subquery()
    )
    rows = session.execute(
        select(
            Prompt.id,
            Dataset.name.label("dataset"),
            Prompt.external_id,
            Prompt.question,
            Prompt.tags,
            Rubric.status,
            head.number.label("version"),
            n_criteria.label("criteria"),
            n_flagged.label("flagged"),
            User.username.label("assignee"),
        )
        .select_from(page_ids)
        .join(Prompt, Prompt.id == page_ids.c.id)
        .join(Dataset, Dataset.id == Prompt.dataset_id)
        .outerjoin(Rubric, Rubric.prompt_id == Prompt.id)
        .outerjoin(head, head.id == Rubric.head_version_id)
        .outerjoin(User, User.id == Prompt.assignee_id)
        .order_by(Prompt.id)
    ).all()
    items = [
        PromptRow(
            id=r.id,
            dataset=r.dataset,
            external_id=r.external_id,
            question=r.question,
            tags=list(r.tags or []),
            status=r.status.value if r.status is not None else None,
            version=r.version,
            criteria=r.criteria,
            flagged=r.flagged,
            assignee=r.assignee,
        )
        for r in rows
    ]
    return Page(items=items, total=total, limit=limit, offset=offset)


def status_counts(
    session: Session,
    *,
    dataset: str | None = None,
    assignee: str | None = None,
    tag: str | None = None,
    text: str | None = None,
    awaiting_review_by: str | None = None,
) -> dict[str, int]:
    """Prompts per rubric status (and NO_RUBRIC) under the same filters as
    `list_prompts`, status aside: one GROUP BY statement."""
    where = _prompt_filters(session, dataset, assignee, tag, text, awaiting_review_by)
    rows = session.execute(
        select(Rubric.status, func.count())
        .select_from(Prompt)
        .outerjoin(Rubric, Rubric.prompt_id == Prompt.id)
        .where(*where)
        .group_by(Rubric.status)
    ).all()
    counts = {s.value: 0 for s in RubricStatus} | {NO_RUBRIC: 0}
    for status, n in rows:
        counts[status.value if status is not None else NO_RUBRIC] = n
    return counts


def tag_names(session: Session) -> list[str]:
    """Every tag some prompt carries, sorted."""
    tag = func.unnest(Prompt.tags).label("tag")
    return list(session.scalars(select(tag).distinct().order_by("tag")))
