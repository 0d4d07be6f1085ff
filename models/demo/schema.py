"""The demo workspace's content as validated data: demo.json beside this module,
read into pydantic models (unknown keys are refused, so a typo cannot vanish)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator
from rubricforge.models.accounts.orm import Role
from rubricforge.models.rubrics.criteria import CriterionData, category_from_weight, stable_key
from rubricforge.models.rubrics.orm import Category, ReviewAction, RubricStatus, VersionSource

DATA_FILE = Path(__file__).with_name("demo.json")

# The review action that puts a rubric into each status (draft has none).
_LAST_ACTION = {
    RubricStatus.in_review: ReviewAction.submit,
    RubricStatus.approved: ReviewAction.approve,
    RubricStatus.rejected: ReviewAction.reject,
    RubricStatus.retired: ReviewAction.retire,
}


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CriterionIn(_In):
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    category: Category
    weight: float

    @model_validator(mode="after")
    def _rar_weight(self) -> CriterionIn:
        if category_from_weight(self.weight) is not self.category or self.weight < -2:
            raise ValueError(
                f"{self.title!r}: weight {self.weight} does not fit {self.category.value} "
                "(RaR: Essential 5, Important 3-4, Optional 1-2, Pitfall -1/-2)"
            )
        return self

    def data(self, key: str) -> CriterionData:
        return CriterionData(self.title, self.description, self.category, self.weight, key)


class RevisionIn(_In):
    by: str
    note: str = Field(min_length=1)
    replace: dict[int, CriterionIn] = {}  # 1-based criterion number -> new text, same key
    add: list[CriterionIn] = []


class ReviewIn(_In):
    action: ReviewAction
    by: str
    version: int = Field(ge=1)
    comment: str = ""


class RubricIn(_In):
    status: RubricStatus
    source: VersionSource
    llm_model: str | None = None
    criteria: Annotated[list[CriterionIn], Field(min_length=7, max_length=20)]
    revision: RevisionIn | None = None
    reviews: list[ReviewIn] = []

    @model_validator(mode="after")
    def _consistent(self) -> RubricIn:
        if (self.source is VersionSource.llm) != (self.llm_model is not None):
            raise ValueError("llm_model is required exactly when source is llm")
        last = self.reviews[-1].action if self.reviews else None
        if last is not _LAST_ACTION.get(self.status):
            raise ValueError(f"status {self.status.value} does not follow the last review {last}")
        n_versions = 2 if self.revision else 1
        if any(r.version > n_versions for r in self.reviews):
            raise ValueError("a review points at a version that does not exist")
        if self.revision and not all(1 <= n <= len(self.criteria) for n in self.revision.replace):
            raise ValueError("revision replaces a criterion number that does not exist")
        return self

    def versions(self, dataset: str, external_id: str) -> list[list[CriterionData]]:
        """Criteria of version 1 and, with a revision, version 2. A replaced
        criterion keeps its key: it is the same criterion, reworded."""
        first = [
            c.data(stable_key(dataset, external_id, "c", str(i)))
            for i, c in enumerate(self.criteria)
        ]
        if self.revision is None:
            return [first]
        second = [
            self.revision.replace[i + 1].data(c.key) if i + 1 in self.revision.replace else c
            for i, c in enumerate(first)
        ]
        start = len(first)
        second += [
            c.data(stable_key(dataset, external_id, "c", str(start + i)))
            for i, c in enumerate(self.revision.add)
        ]
        return [first, second]


class LabelIn(_In):
    criterion: int = Field(ge=1)  # 1-based number in the judged version
    by: dict[str, bool]  # annotator username -> met
    notes: dict[str, str] = {}


class ResponseIn(_In):
    source: str
    text: str | None = None  # None: the prompt's reference answer
    met: list[bool]  # the demo judge's verdict per criterion of the head version
    rationales: dict[int, str] = {}
    labels: list[LabelIn] = []


class PromptIn(_In):
    external_id: str
    question: str
    reference_answer: str
    tags: list[str] = []
    rubric: RubricIn | None = None
    responses: list[ResponseIn] = []

    @model_validator(mode="after")
    def _responses_fit_rubric(self) -> PromptIn:
        if not self.responses:
            return self
        if self.rubric is None:
            raise ValueError(f"{self.external_id}: responses need a rubric to be judged against")
        n = len(self.rubric.versions("", self.external_id)[-1])
        for r in self.responses:
            numbers = [*r.rationales, *(label.criterion for label in r.labels)]
            if len(r.met) != n or any(not 1 <= k <= n for k in numbers):
                raise ValueError(f"{self.external_id}/{r.source}: verdicts must cover {n} criteria")
        return self


class UserIn(_In):
    username: str
    display_name: str
    role: Role


class DatasetIn(_In):
    name: str
    description: str
    expert: str
    prompts: list[PromptIn]


class DemoData(_In):
    about: str
    drafting_template: str
    judge_template: str
    judge_model: str
    users: list[UserIn]
    datasets: list[DatasetIn]


def read_demo_data(path: Path = DATA_FILE) -> DemoData:
    return DemoData.model_validate_json(path.read_text(encoding="utf-8"))
