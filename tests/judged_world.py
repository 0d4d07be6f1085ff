"""A small judged world built with the ORM, for spot-check, agreement and revision tests:
users of every role, prompts with rubrics, responses, judge runs and their verdicts."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from rubricforge.models.accounts.orm import Role, User
from rubricforge.models.accounts.permissions import UserInfo
from rubricforge.models.agreement.orm import HumanLabel
from rubricforge.models.core.status import Status
from rubricforge.models.judging.orm import (
    JudgeMode,
    JudgeRun,
    Judgment,
    Response,
    Verdict,
)
from rubricforge.models.rubrics.authoring import create_rubric
from rubricforge.models.rubrics.criteria import CriterionData
from rubricforge.models.rubrics.orm import Category, Criterion, Dataset, Prompt
from sqlalchemy import select
from sqlalchemy.orm import Session

ESS, IMP, OPT, PIT = Category.essential, Category.important, Category.optional, Category.pitfall
WEIGHT = {ESS: 5.0, IMP: 3.0, OPT: 1.0, PIT: -2.0}


@dataclass(frozen=True)
class PromptInfo:
    prompt_id: int
    rubric_id: int
    version_id: int
    criteria: tuple[int, ...]  # criterion ids in rubric order


@dataclass
class World:
    session: Session
    users: dict[str, UserInfo] = field(default_factory=dict)
    datasets: dict[str, int] = field(default_factory=dict)
    _n: itertools.count[int] = field(default_factory=itertools.count)

    def user(self, name: str, role: Role) -> UserInfo:
        user = User(username=name, role=role, password_hash=None)
        self.session.add(user)
        self.session.flush()
        self.users[name] = UserInfo(id=user.id, username=name, role=role)
        return self.users[name]

    def dataset(self, name: str) -> int:
        if name not in self.datasets:
            ds = Dataset(name=name)
            self.session.add(ds)
            self.session.flush()
            self.datasets[name] = ds.id
        return self.datasets[name]

    def prompt(
        self, dataset: str, categories: Sequence[Category], *, author: UserInfo
    ) -> PromptInfo:
        n = next(self._n)
        prompt = Prompt(
            dataset_id=self.dataset(dataset),
            external_id=f"p{n}",
            question=f"Question {n}: what should a clinician do?",
            reference_answer="Reference answer.",
        )
        self.session.add(prompt)
        self.session.flush()
        criteria = [
            CriterionData(
                title=f"Point {n}.{i}",
                description=f"Mentions point {i} of question {n}.",
                category=cat,
                weight=WEIGHT[cat],
            )
            for i, cat in enumerate(categories)
        ]
        version = create_rubric(self.session, author, prompt.id, criteria)
        ids = self.session.scalars(
            select(Criterion.id)
            .where(Criterion.version_id == version.id)
            .order_by(Criterion.position)
        ).all()
        return PromptInfo(prompt.id, version.rubric_id, version.id, tuple(ids))

    def response(
        self, prompt_id: int, text: str, source: str = "policy", author_model: str = "unknown"
    ) -> int:
        response = Response(
            prompt_id=prompt_id,
            text=text,
            source=source,
            content_hash=text[:64],
            author_model=author_model,
        )
        self.session.add(response)
        self.session.flush()
        return response.id

    def run(
        self,
        model: str,
        mode: JudgeMode,
        *,
        tokens_in: int = 0,
        tokens_out: int = 0,
        cost_usd: float | None = None,
    ) -> int:
        run = JudgeRun(
            model=model,
            mode=mode,
            template_hash="t" * 64,
            status=Status.succeeded,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=cost_usd,
        )
        self.session.add(run)
        self.session.flush()
        return run.id

    def judge(
        self,
        run_id: int,
        response_id: int,
        *,
        version_id: int | None = None,
        verdicts: dict[int, bool | None] | None = None,
        reward: float | None = None,
        rating: float | None = None,
        rationale: str = "judge rationale",
    ) -> int:
        judgment = Judgment(
            run_id=run_id,
            response_id=response_id,
            rubric_version_id=version_id,
            rating=rating,
            reward=reward,
        )
        self.session.add(judgment)
        self.session.flush()
        for criterion_id, met in (verdicts or {}).items():
            self.session.add(
                Verdict(
                    judgment_id=judgment.id,
                    criterion_id=criterion_id,
                    met=met,
                    ok=met is not None,
                    rationale=f"{rationale} #{criterion_id}",
                )
            )
        self.session.flush()
        return judgment.id

    def label(
        self,
        annotator: UserInfo,
        response_id: int,
        criterion_id: int | None,
        met: bool | None = None,
        *,
        score: int | None = None,
        adjudication: bool = False,
    ) -> None:
        """A stored label, bypassing the blind flow (for statistics fixtures)."""
        assert annotator.id is not None
        self.session.add(
            HumanLabel(
                annotator_id=annotator.id,
                response_id=response_id,
                criterion_id=criterion_id,
                met=met,
                score=score,
                is_adjudication=adjudication,
            )
        )
        self.session.flush()


def make_world(session: Session) -> World:
    world = World(session)
    world.user("admin", Role.admin)
    world.user("erin", Role.expert)
    world.user("eve", Role.expert)
    world.user("ann", Role.annotator)
    world.user("bob", Role.annotator)
    world.user("cat", Role.annotator)
    world.user("rita", Role.researcher)
    return world
