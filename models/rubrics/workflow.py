"""Review workflow: draft -> in review -> approved or rejected; reopen; retire.

    draft ----submit----> in_review ----approve----> approved
      ^                       |  \\----reject-----> rejected
      |                       |                      |
      +-------reopen----------+----------------------+   (also from approved, retired)
    any but retired ---retire---> retired

Saving a new version (`models.rubrics.versions.save_version`) also returns a rubric
to draft from in_review, approved or rejected. Every transition carries the
caller's `expected_lock_version`, writes a RubricReview row for the head
version and an audit entry, and returns the new RubricState.

Review rule: approve and reject are decisions about someone else's work, so an
expert may not decide on a version they authored (another expert reviews it);
an admin may, as the override for one-person teams and emergencies. Approval
with lint errors remaining needs `confirm_errors=True`; which errors were
confirmed is kept in the audit entry.
"""

from __future__ import annotations

from rubricforge.models.accounts.orm import Role
from rubricforge.models.accounts.permissions import Action, UserInfo, require
from rubricforge.models.core.audit import audit
from rubricforge.models.core.errors import (
    InvalidInputError,
    LintErrorsRemain,
    PermissionDenied,
    WorkflowError,
)
from rubricforge.models.rubrics.lint import lint
from rubricforge.models.rubrics.orm import (
    ReviewAction,
    Rubric,
    RubricReview,
    RubricStatus,
    RubricVersion,
)
from rubricforge.models.rubrics.queries import RubricState, get_version, state_of
from rubricforge.models.rubrics.versions import lock_rubric
from sqlalchemy.orm import Session

S = RubricStatus
# action -> (statuses it may start from, status it leads to, permission it needs)
TRANSITIONS: dict[ReviewAction, tuple[frozenset[RubricStatus], RubricStatus, Action]] = {
    ReviewAction.submit: (frozenset({S.draft}), S.in_review, Action.submit_rubric),
    ReviewAction.approve: (frozenset({S.in_review}), S.approved, Action.review_rubric),
    ReviewAction.reject: (frozenset({S.in_review}), S.rejected, Action.review_rubric),
    ReviewAction.reopen: (
        frozenset({S.in_review, S.approved, S.rejected, S.retired}),
        S.draft,
        Action.edit_rubric,
    ),
    ReviewAction.retire: (
        frozenset({S.draft, S.in_review, S.approved, S.rejected}),
        S.retired,
        Action.retire_rubric,
    ),
}


def _start(
    session: Session,
    actor: UserInfo,
    rubric_id: int,
    action: ReviewAction,
    expected_lock_version: int,
) -> tuple[Rubric, RubricVersion]:
    allowed, _, permission = TRANSITIONS[action]
    require(actor, permission)
    rubric = lock_rubric(session, rubric_id, expected_lock_version)
    if rubric.status not in allowed:
        needs = " or ".join(sorted(s.value for s in allowed))
        raise WorkflowError(
            f"cannot {action.value} rubric {rubric_id}: it is {rubric.status.value}, "
            f"and {action.value} needs it to be {needs}"
        )
    head = session.get(RubricVersion, rubric.head_version_id) if rubric.head_version_id else None
    if head is None:
        raise WorkflowError(f"rubric {rubric_id} has no version to {action.value}")
    return rubric, head


def _finish(
    session: Session,
    actor: UserInfo,
    rubric: Rubric,
    head: RubricVersion,
    action: ReviewAction,
    comment: str,
    **details: object,
) -> RubricState:
    previous = rubric.status
    rubric.status = TRANSITIONS[action][1]
    rubric.updated_by_id = actor.id
    if action is ReviewAction.approve:
        rubric.approved_version_id = head.id
    session.add(
        RubricReview(
            rubric_id=rubric.id,
            version_id=head.id,
            action=action,
            comment=comment.strip(),
            user_id=actor.id,
        )
    )
    session.flush()
    audit(
        session,
        actor=actor.username,
        user_id=actor.id,
        action=f"rubric.{action.value}",
        entity="rubric",
        entity_id=rubric.id,
        details={
            "from": previous.value,
            "to": rubric.status.value,
            "version_id": head.id,
            "number": head.number,
            "comment": comment.strip(),
            **details,
        },
    )
    return state_of(rubric)


def _not_own_work(actor: UserInfo, head: RubricVersion, action: ReviewAction) -> None:
    if (
        head.created_by_id is not None
        and head.created_by_id == actor.id
        and (actor.role is not Role.admin)
    ):
        raise PermissionDenied(
            f"{actor.username} wrote version {head.number}, so cannot {action.value} it: "
            "another expert must review it (or an admin)"
        )


def submit_for_review(
    session: Session,
    actor: UserInfo,
    rubric_id: int,
    *,
    expected_lock_version: int,
    comment: str = "",
) -> RubricState:
    """Send the head version to review (draft -> in_review)."""
    rubric, head = _start(session, actor, rubric_id, ReviewAction.submit, expected_lock_version)
    return _finish(session, actor, rubric, head, ReviewAction.submit, comment)


def approve(
    session: Session,
    actor: UserInfo,
    rubric_id: int,
    *,
    expected_lock_version: int,
    comment: str = "",
    confirm_errors: bool = False,
) -> RubricState:
    """Approve the head version (in_review -> approved) and record it as the
    approved version. Raises LintErrorsRemain (with the findings) while lint
    errors remain, unless `confirm_errors`."""
    rubric, head = _start(session, actor, rubric_id, ReviewAction.approve, expected_lock_version)
    _not_own_work(actor, head, ReviewAction.approve)
    errors = [f for f in lint(get_version(session, head.id).criteria) if f.is_error]
    if errors and not confirm_errors:
        listed = "\n".join(f"  {f.message}" for f in errors)
        raise LintErrorsRemain(
            f"version {head.number} has {len(errors)} lint error(s); fix them, or approve "
            f"again confirming that you accept them:\n{listed}",
            errors,
        )
    return _finish(
        session,
        actor,
        rubric,
        head,
        ReviewAction.approve,
        comment,
        confirmed_lint_errors=sorted({f"{f.rule}@{f.index}" for f in errors}),
    )


def reject(
    session: Session,
    actor: UserInfo,
    rubric_id: int,
    *,
    expected_lock_version: int,
    comment: str,
) -> RubricState:
    """Send the head version back to its author (in_review -> rejected); the
    comment says what to change and is required."""
    if not comment.strip():
        raise InvalidInputError("a rejection needs a comment saying what to change")
    rubric, head = _start(session, actor, rubric_id, ReviewAction.reject, expected_lock_version)
    _not_own_work(actor, head, ReviewAction.reject)
    return _finish(session, actor, rubric, head, ReviewAction.reject, comment)


def reopen(
    session: Session,
    actor: UserInfo,
    rubric_id: int,
    *,
    expected_lock_version: int,
    comment: str = "",
) -> RubricState:
    """Back to draft without a new version: withdraw from review, or revisit an
    approved, rejected or retired rubric. An approval stays on record."""
    rubric, head = _start(session, actor, rubric_id, ReviewAction.reopen, expected_lock_version)
    return _finish(session, actor, rubric, head, ReviewAction.reopen, comment)


def retire(
    session: Session,
    actor: UserInfo,
    rubric_id: int,
    *,
    expected_lock_version: int,
    comment: str = "",
) -> RubricState:
    """Take a rubric out of use (e.g. a broken prompt); reopen brings it back."""
    rubric, head = _start(session, actor, rubric_id, ReviewAction.retire, expected_lock_version)
    return _finish(session, actor, rubric, head, ReviewAction.retire, comment)
