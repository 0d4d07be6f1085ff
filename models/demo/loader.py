"""The demo dataset: a small, hand-written workspace that shows every part of the app.

Two datasets (medicine, chemistry) with prompts, reference answers and RaR-style
rubrics in every workflow status, version histories, reviews, policy responses,
one explicit judge run with RaR-explicit rewards, and annotators' spot-check
labels that sometimes disagree with the judge and with each other. The content
lives in demo.json beside this module and was written for this project.

Loading is idempotent: a dataset that already exists is left alone, users are
matched by username, and a second run adds nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from rubricforge.models.accounts.auth import check_password, hash_password
from rubricforge.models.accounts.orm import User
from rubricforge.models.agreement.orm import HumanLabel
from rubricforge.models.core.audit import audit
from rubricforge.models.core.db import session_scope
from rubricforge.models.core.status import Status
from rubricforge.models.demo.password import password_block
from rubricforge.models.demo.schema import (
    DatasetIn,
    DemoData,
    ResponseIn,
    RubricIn,
    read_demo_data,
)
from rubricforge.models.judging.orm import (
    JudgeMode,
    JudgeRun,
    Judgment,
    Response,
    Verdict,
)
from rubricforge.models.judging.rewards import Aggregation, aggregate
from rubricforge.models.rubrics.criteria import (
    CriterionData,
    content_hash,
)
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
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

# Serialises concurrent `rubricforge demo` runs so both cannot insert the same datasets.
_LOCK_ID = 0x52464445  # "RFDE"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _columns(c: CriterionData) -> dict[str, object]:
    return {**asdict(c), "tags": list(c.tags)}


@dataclass
class _Counts:
    users: list[str] = field(default_factory=list)
    password: str | None = None
    datasets: list[str] = field(default_factory=list)
    prompts: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    versions: int = 0
    criteria: int = 0
    flagged: int = 0
    reviews: int = 0
    responses: int = 0
    judgments: int = 0
    verdicts: int = 0
    labels: int = 0


@dataclass
class _ToJudge:
    response: Response
    spec: ResponseIn
    version_id: int
    criteria: list[Criterion]


def load_demo(engine: Engine, *, password: str | None = None) -> str:
    """Load the demo data in one transaction; return a one-paragraph summary, then
    the credentials of any accounts it added on lines of their own.

    Demo accounts that do not exist yet get `password`, or a random one that only
    the summary shows: a demo never ships known credentials, and the quick start
    can still sign in."""
    data = read_demo_data()
    with session_scope(engine) as s:
        s.execute(select(func.pg_advisory_xact_lock(_LOCK_ID)))
        loader = _Loader(s, data, _Counts(), password)
        names = [d.name for d in data.datasets]
        present = set(s.scalars(select(Dataset.name).where(Dataset.name.in_(names))))
        to_judge: list[_ToJudge] = []
        for ds in data.datasets:
            if ds.name not in present:
                to_judge += loader.dataset(ds)
        if to_judge:
            loader.judge(to_judge)
        counts = loader.counts
        if counts.users or counts.datasets:
            audit(s, actor="demo", action="load_demo", entity="demo", entity_id="demo",
                  details={k: v for k, v in asdict(counts).items() if k != "password"})  # fmt: skip
    return _summary(counts, sorted(present), data.judge_model)


class _Loader:
    def __init__(self, s: Session, data: DemoData, counts: _Counts, password: str | None):
        self.s, self.data, self.counts = s, data, counts
        self.users = {u.username: u for u in s.scalars(select(User))}
        for spec in data.users:
            if spec.username not in self.users:
                if counts.password is None:
                    counts.password = password or secrets.token_urlsafe(9)
                    check_password(counts.password)
                # Each account its own hash (its own salt): one cracked hash is one account.
                password_hash = hash_password(counts.password)
                user = User(**spec.model_dump(), password_hash=password_hash)
                s.add(user)
                self.users[spec.username] = user
                counts.users.append(spec.username)
        s.flush()

    def dataset(self, ds: DatasetIn) -> list[_ToJudge]:
        s, counts = self.s, self.counts
        dataset = Dataset(
            name=ds.name, description=ds.description, created_by_id=self.users["admin"].id
        )
        s.add(dataset)
        s.flush()
        counts.datasets.append(ds.name)
        expert = self.users[ds.expert]
        to_judge: list[_ToJudge] = []
        for p in ds.prompts:
            fields = p.model_dump(include={"external_id", "question", "reference_answer", "tags"})
            prompt = Prompt(dataset_id=dataset.id, assignee_id=expert.id, **fields)
            prompt.source, prompt.meta = "rubricforge demo", {"demo": True}
            s.add(prompt)
            s.flush()
            counts.prompts += 1
            if p.rubric is None:
                continue
            keyed = p.rubric.versions(ds.name, p.external_id)
            version_id, criteria = self.rubric(prompt.id, p.rubric, keyed, expert)
            for r in p.responses:
                text = r.text if r.text is not None else p.reference_answer
                response = Response(
                    prompt_id=prompt.id,
                    text=text,
                    source=r.source,
                    content_hash=sha256(text),
                    meta={"demo": True},
                )
                s.add(response)
                to_judge.append(_ToJudge(response, r, version_id, criteria))
                counts.responses += 1
        s.flush()
        return to_judge

    def rubric(
        self, prompt_id: int, spec: RubricIn, keyed: list[list[CriterionData]], author: User
    ) -> tuple[int, list[Criterion]]:
        """Rubric, versions, criteria and reviews; returns the head version's id and criteria."""
        s, counts = self.s, self.counts
        rubric = Rubric(prompt_id=prompt_id, status=spec.status)
        s.add(rubric)
        s.flush()
        versions: list[RubricVersion] = []
        rows: list[Criterion] = []
        for criteria in keyed:
            if versions and spec.revision:  # version 2: the expert's edit of the draft
                version = RubricVersion(
                    source=VersionSource.human,
                    note=spec.revision.note,
                    parent_id=versions[-1].id,
                    created_by_id=self.users[spec.revision.by].id,
                )
            else:
                drafted = spec.llm_model is not None
                version = RubricVersion(
                    source=spec.source,
                    created_by_id=author.id,
                    llm_model=spec.llm_model,
                    template_hash=sha256(self.data.drafting_template) if drafted else None,
                )
            version.rubric_id, version.number = rubric.id, len(versions) + 1
            version.content_hash = content_hash(criteria)
            s.add(version)
            s.flush()
            versions.append(version)
            rows = [
                Criterion(version_id=version.id, position=i, flags=c.flags, **_columns(c))
                for i, c in enumerate(criteria)
            ]
            s.add_all(rows)
            counts.versions += 1
            counts.criteria += len(rows)
            counts.flagged += sum(1 for c in criteria if c.flags)
        for r in spec.reviews:
            s.add(
                RubricReview(
                    rubric_id=rubric.id,
                    version_id=versions[r.version - 1].id,
                    action=r.action,
                    comment=r.comment,
                    user_id=self.users[r.by].id,
                )
            )
            counts.reviews += 1
        approvals = [r.version for r in spec.reviews if r.action is ReviewAction.approve]
        rubric.head_version_id = versions[-1].id
        rubric.approved_version_id = versions[approvals[-1] - 1].id if approvals else None
        last_by = spec.reviews[-1].by if spec.reviews else None
        rubric.updated_by_id = self.users[last_by].id if last_by else versions[-1].created_by_id
        counts.statuses[spec.status.value] = counts.statuses.get(spec.status.value, 0) + 1
        s.flush()
        return versions[-1].id, rows

    def judge(self, items: list[_ToJudge]) -> None:
        """One explicit judge run over every new demo response, with RaR-explicit rewards."""
        s, data, counts = self.s, self.data, self.counts
        now = datetime.now(UTC)
        run = JudgeRun(
            model=data.judge_model,
            mode=JudgeMode.explicit,
            template_hash=sha256(data.judge_template),
            params={"temperature": 0.0, "aggregation": "rar_explicit", "demo": True},
            status=Status.succeeded,
            scope={"datasets": counts.datasets},
            created_by_id=self.users["researcher1"].id,
            started_at=now,
            finished_at=now,
            total=len(items),
            done=len(items),
        )
        s.add(run)
        s.flush()
        for n, item in enumerate(items):
            spec = item.spec
            weights = [c.weight for c in item.criteria]
            # Demo token counts and latency: plausible, deterministic figures; no call was made.
            judgment = Judgment(
                run_id=run.id,
                response_id=item.response.id,
                rubric_version_id=item.version_id,
                ok=True,
                reward=aggregate(Aggregation.rar_explicit, weights, spec.met),
                tokens_in=400 + len(item.response.text) // 4,
                tokens_out=30 * len(spec.met),
                latency_ms=900 + 37 * n,
            )
            s.add(judgment)
            s.flush()
            run.tokens_in += judgment.tokens_in
            run.tokens_out += judgment.tokens_out
            for i, (criterion, met) in enumerate(zip(item.criteria, spec.met, strict=True), 1):
                default = f"{'Met' if met else 'Not met'}: {criterion.title.lower()}."
                s.add(
                    Verdict(
                        judgment_id=judgment.id,
                        criterion_id=criterion.id,
                        met=met,
                        ok=True,
                        rationale=spec.rationales.get(i, default),
                    )
                )
                counts.verdicts += 1
            for label in spec.labels:
                criterion_id = item.criteria[label.criterion - 1].id
                for username, met in label.by.items():
                    s.add(
                        HumanLabel(
                            annotator_id=self.users[username].id,
                            response_id=item.response.id,
                            criterion_id=criterion_id,
                            met=met,
                            note=label.notes.get(username, ""),
                            seconds_spent=float(25 + 11 * (counts.labels % 5)),
                        )
                    )
                    counts.labels += 1
            counts.judgments += 1
        s.flush()


def _summary(c: _Counts, already: list[str], judge_model: str) -> str:
    if not c.users and not c.datasets:
        return (
            f"The demo is already loaded ({', '.join(already)}): nothing was added. "
            "Open the app to explore it; lost the demo password? "
            "rubricforge demo --reset-password sets a new one."
        )
    parts = []
    if c.datasets:
        statuses = ", ".join(f"{c.statuses.get(s.value, 0)} {s.value}" for s in RubricStatus)
        parts.append(
            f"Loaded the demo: {len(c.datasets)} dataset(s) ({', '.join(c.datasets)}) with "
            f"{c.prompts} prompts and {sum(c.statuses.values())} rubrics ({statuses}); "
            f"{c.versions} rubric versions, {c.criteria} criteria ({c.flagged} flagged by the "
            f"pitfall-polarity lint), {c.reviews} review events; {c.responses} responses judged "
            f"by '{judge_model}' (explicit, RaR-explicit rewards) in one run with "
            f"{c.judgments} judgments and {c.verdicts} verdicts; {c.labels} annotator labels."
        )
    if already:
        parts.append(f"Already present and left alone: {', '.join(already)}.")
    parts.append("Running rubricforge demo again adds nothing.")
    text = " ".join(parts)
    if c.users and c.password:
        text += "\n" + password_block(c.users, c.password)
    return text
