"""What the judging pages offer in their filters: datasets, judge models, annotators.

Ids with names, since `AgreementFilters` and `QueueSpec` take ids and people
read names. Small lookups, one query each.
"""

from __future__ import annotations

from dataclasses import dataclass

from rubricforge.models.accounts.orm import User
from rubricforge.models.agreement.orm import HumanLabel
from rubricforge.models.judging.orm import JudgeRun
from rubricforge.models.rubrics.orm import Dataset
from sqlalchemy import select
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class FilterChoices:
    datasets: dict[int, str]  # id -> name, by name
    judge_models: list[str]  # models with at least one judge run
    annotators: dict[int, str]  # id -> username of everyone who gave a label


def filter_choices(session: Session) -> FilterChoices:
    datasets = session.execute(select(Dataset.id, Dataset.name).order_by(Dataset.name)).all()
    models = session.scalars(select(JudgeRun.model).distinct().order_by(JudgeRun.model)).all()
    labellers = session.execute(
        select(User.id, User.username)
        .where(User.id.in_(select(HumanLabel.annotator_id).where(~HumanLabel.is_adjudication)))
        .order_by(User.username)
    ).all()
    return FilterChoices(
        datasets={i: n for i, n in datasets},
        judge_models=list(models),
        annotators={i: n for i, n in labellers},
    )
