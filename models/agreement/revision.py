"""Flag for revision: the closed loop from the agreement dashboard back to the expert.

`flag_for_revision` sends the rubric holding a criterion back to draft (a
write on the rubric row, so `lock_version` moves and an open editor must
reload, where it finds the request) and stores a RevisionRequest whose
evidence is the disagreement itself: for each item where the judge and the
humans differ, a response excerpt, the human labels, the verdicts and their
rationales, plus summary figures. It follows the criterion by key and text, so
disagreements gathered on earlier versions with the same wording count.

A request is resolved by the version that changes or removes its criterion
(same key, different title, description, category or weight; or key gone):
call `resolve_requests_for_new_version` after saving a version, or save with
`save_version_resolving`, which does both in the caller's unit of work (the
editor's save path). An expert can also close one explicitly with a reason
(`resolve_request`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rubricforge.models.accounts.permissions import Action, UserInfo, require
from rubricforge.models.agreement.items import item_details
from rubricforge.models.agreement.queries import (
    AgreementFilters,
    criterion_pairs,
    disagreement_keys,
)
from rubricforge.models.agreement.report import ITEM, criterion_consensus
from rubricforge.models.agreement.stats import binary_agreement
from rubricforge.models.core.audit import audit
from rubricforge.models.core.errors import InvalidInputError, NotFoundError, WorkflowError
from rubricforge.models.rubrics.criteria import CriterionData
from rubricforge.models.rubrics.orm import (
    Criterion,
    ReviewAction,
    RevisionRequest,
    Rubric,
    RubricReview,
    RubricStatus,
    RubricVersion,
)
from rubricforge.models.rubrics.queries import VersionInfo, username_of
from rubricforge.models.rubrics.versions import save_version
from sqlalchemy import func, select
from sqlalchemy.orm import Session

EVIDENCE_ITEMS = 50  # disagreeing items kept in a request; the summary counts them all
EXCERPT_CHARS = 600


@dataclass(frozen=True)
class RevisionRequestInfo:
    id: int
    rubric_id: int
    criterion_id: int | None
    criterion_key: str | None
    criterion_title: str | None
    reason: str
    evidence: dict[str, Any]
    created_by: str | None
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    resolved_version_id: int | None
    resolution: str | None


def _info(session: Session, req: RevisionRequest) -> RevisionRequestInfo:
    criterion = session.get(Criterion, req.criterion_id) if req.criterion_id else None
    return RevisionRequestInfo(
        id=req.id,
        rubric_id=req.rubric_id,
        criterion_id=req.criterion_id,
        criterion_key=criterion.key if criterion else None,
        criterion_title=criterion.title if criterion else None,
        reason=req.reason,
        evidence=req.evidence,
        created_by=username_of(session, req.created_by_id),
        created_at=req.created_at,
        resolved_at=req.resolved_at,
        resolved_by=username_of(session, req.resolved_by_id),
        resolved_version_id=req.resolved_version_id,
        resolution=req.resolution,
    )


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def _evidence(session: Session, criterion: Criterion, rubric_id: int) -> dict[str, Any]:
    """The disagreements on this criterion's wording, across the rubric's versions."""
    same_text = session.scalars(
        select(Criterion.id)
        .join(RubricVersion, RubricVersion.id == Criterion.version_id)
        .where(
            RubricVersion.rubric_id == rubric_id,
            Criterion.key == criterion.key,
            Criterion.title == criterion.title,
            Criterion.description == criterion.description,
        )
    ).all()
    filters = AgreementFilters(criterion_ids=tuple(same_text))
    pairs = criterion_pairs(session, filters)
    summary: dict[str, Any] = {"labelled_items": 0, "disagreeing_items": 0}
    if not pairs.empty:
        human, _ = criterion_consensus(pairs.drop_duplicates(ITEM + ["annotator_id"]))
        judged = (
            pairs.drop_duplicates(ITEM + ["run_id"])
            .drop(columns=["human_met"])
            .join(human.rename("human_met"), on=ITEM, how="inner")
        )
        stats = binary_agreement(judged.judge_met.tolist(), judged.human_met.tolist(), n_boot=200)
        summary = {
            "labelled_items": len(human),
            "verdict_pairs": stats.n,
            "accuracy": stats.accuracy.value if stats.accuracy.defined else None,
            "kappa": stats.kappa.value if stats.kappa.defined else None,
        }
    total, keys = disagreement_keys(session, filters, limit=EVIDENCE_ITEMS)
    summary["disagreeing_items"] = total
    items = [
        {
            "response_id": d.response_id,
            "criterion_id": d.criterion_id,
            "prompt_id": d.prompt_id,
            "response_excerpt": _excerpt(d.response),
            "labels": [
                {
                    "annotator": lab.annotator,
                    "met": lab.met,
                    "note": lab.note,
                    "adjudication": lab.is_adjudication,
                }
                for lab in d.labels
                if lab.met is not None
            ],
            "verdicts": [
                {
                    "run_id": v.run_id,
                    "judge_model": v.judge_model,
                    "judge_mode": v.judge_mode.value,
                    "met": v.met,
                    "rationale": v.rationale,
                }
                for v in d.verdicts
                if v.ok
            ],
        }
        for d in item_details(session, keys)
    ]
    return {
        "criterion": {
            "id": criterion.id,
            "key": criterion.key,
            "title": criterion.title,
            "description": criterion.description,
            "category": criterion.category.value,
            "weight": criterion.weight,
        },
        "summary": summary,
        "items": items,
    }


def flag_for_revision(
    session: Session, actor: UserInfo, criterion_id: int, reason: str
) -> RevisionRequestInfo:
    """Send a criterion back to its expert with the disagreements attached."""
    require(actor, Action.flag_revision)
    if not reason.strip():
        raise InvalidInputError("say why the criterion needs revising; nothing was flagged")
    criterion = session.get(Criterion, criterion_id)
    if criterion is None:
        raise NotFoundError(f"no criterion with id {criterion_id}")
    rubric_id = session.scalar(
        select(RubricVersion.rubric_id).where(RubricVersion.id == criterion.version_id)
    )
    rubric = session.get(Rubric, rubric_id, with_for_update=True, populate_existing=True)
    assert rubric is not None  # a version's rubric exists (foreign key)
    if rubric.status is RubricStatus.retired:
        raise WorkflowError(f"rubric {rubric.id} is retired; reopen it before flagging criteria")
    for req in open_requests(session, rubric.id):
        if req.criterion_key == criterion.key:
            raise InvalidInputError(
                f"criterion {criterion.title!r} is already flagged (request {req.id} by "
                f"{req.created_by or 'the CLI'}); add to that request instead"
            )
    evidence = _evidence(session, criterion, rubric.id)
    previous = rubric.status
    rubric.status = RubricStatus.draft
    rubric.updated_by_id = actor.id
    # Always a write on the row, so lock_version moves and an open editor reloads.
    rubric.updated_at = func.now()
    if previous is not RubricStatus.draft and rubric.head_version_id is not None:
        session.add(
            RubricReview(
                rubric_id=rubric.id,
                version_id=rubric.head_version_id,
                action=ReviewAction.reopen,
                comment=f"flagged for revision: {reason.strip()}",
                user_id=actor.id,
            )
        )
    request = RevisionRequest(
        rubric_id=rubric.id,
        criterion_id=criterion.id,
        reason=reason.strip(),
        evidence=evidence,
        created_by_id=actor.id,
    )
    session.add(request)
    session.flush()
    audit(
        session,
        actor=actor.username,
        user_id=actor.id,
        action="rubric.flag_revision",
        entity="rubric",
        entity_id=rubric.id,
        details={
            "request_id": request.id,
            "criterion_id": criterion.id,
            "criterion_key": criterion.key,
            "reason": reason.strip(),
            "from": previous.value,
            "to": RubricStatus.draft.value,
            "disagreeing_items": evidence["summary"]["disagreeing_items"],
        },
    )
    return _info(session, request)


def open_requests(session: Session, rubric_id: int) -> list[RevisionRequestInfo]:
    """Unresolved requests on a rubric, oldest first, for the expert's editor."""
    rows = session.scalars(
        select(RevisionRequest)
        .where(RevisionRequest.rubric_id == rubric_id, RevisionRequest.resolved_at.is_(None))
        .order_by(RevisionRequest.id)
    ).all()
    return [_info(session, r) for r in rows]


def _resolve(
    session: Session,
    actor: UserInfo,
    req: RevisionRequest,
    resolution: str,
    version_id: int | None,
) -> None:
    req.resolved_at = func.now()
    req.resolved_by_id = actor.id
    req.resolved_version_id = version_id
    req.resolution = resolution
    audit(
        session,
        actor=actor.username,
        user_id=actor.id,
        action="rubric.resolve_revision",
        entity="rubric",
        entity_id=req.rubric_id,
        details={"request_id": req.id, "version_id": version_id, "resolution": resolution},
    )


def resolve_requests_for_new_version(
    session: Session, actor: UserInfo, rubric_id: int, version_id: int
) -> list[int]:
    """Resolve the open requests whose criterion this version changed or removed;
    returns their ids. Call it after saving a version."""
    require(actor, Action.edit_rubric)
    version = session.get(RubricVersion, version_id)
    if version is None or version.rubric_id != rubric_id:
        raise NotFoundError(f"rubric {rubric_id} has no version with id {version_id}")
    current = {
        c.key: c
        for c in session.scalars(select(Criterion).where(Criterion.version_id == version_id))
    }
    requests = session.scalars(
        select(RevisionRequest)
        .where(RevisionRequest.rubric_id == rubric_id, RevisionRequest.resolved_at.is_(None))
        .order_by(RevisionRequest.id)
        .with_for_update()
    ).all()
    resolved = []
    for req in requests:
        flagged = session.get(Criterion, req.criterion_id) if req.criterion_id else None
        if flagged is None or flagged.version_id == version_id:
            continue
        now = current.get(flagged.key)
        if now is None:
            how = f"criterion removed in version {version.number}"
        elif (now.title, now.description, now.category, now.weight) != (
            flagged.title,
            flagged.description,
            flagged.category,
            flagged.weight,
        ):
            how = f"criterion changed in version {version.number}"
        else:
            continue
        _resolve(session, actor, req, how, version_id)
        resolved.append(req.id)
    session.flush()
    return resolved


def resolve_request(
    session: Session, actor: UserInfo, request_id: int, resolution: str
) -> RevisionRequestInfo:
    """Close a request without changing the criterion (e.g. the judge was wrong)."""
    require(actor, Action.edit_rubric)
    if not resolution.strip():
        raise InvalidInputError("say how the request was resolved; nothing was changed")
    req = session.get(RevisionRequest, request_id, with_for_update=True)
    if req is None:
        raise NotFoundError(f"no revision request with id {request_id}")
    if req.resolved_at is not None:
        raise InvalidInputError(f"revision request {request_id} is already resolved")
    _resolve(session, actor, req, resolution.strip(), None)
    session.flush()
    session.refresh(req)
    return _info(session, req)


def save_version_resolving(
    session: Session,
    actor: UserInfo,
    rubric_id: int,
    criteria: Sequence[CriterionData],
    **save: Any,
) -> tuple[VersionInfo, list[int]]:
    """`save_version`, then resolve the open requests whose criterion the new version
    changed or removed; returns the version and the resolved request ids."""
    require(actor, Action.edit_rubric)
    info = save_version(session, actor, rubric_id, criteria, **save)
    return info, resolve_requests_for_new_version(session, actor, rubric_id, info.id)
