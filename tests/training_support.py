"""A snapshot with spot-checks, for the gate, preview and Training page tests: approved
rubrics frozen into a snapshot, policy responses, judge runs with verdicts, and
annotators' labels on chosen (judge, human) pairs."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from llm_server import Reply, ScriptedLLM
from rubricforge.models.accounts.orm import Role, User
from rubricforge.models.accounts.permissions import OPERATOR, UserInfo
from rubricforge.models.agreement.orm import HumanLabel
from rubricforge.models.core.status import Status
from rubricforge.models.data.exporter import ExportFilter, create_snapshot
from rubricforge.models.judging.orm import (
    JudgeMode,
    JudgeRun,
    Judgment,
    Response,
    Verdict,
)
from rubricforge.models.judging.prompts import template_hash
from rubricforge.models.llm.config import EndpointConfig
from rubricforge.models.rubrics.criteria import CriterionData, content_hash, stable_key
from rubricforge.models.rubrics.orm import (
    Category,
    Criterion,
    Dataset,
    Prompt,
    Rubric,
    RubricStatus,
    RubricVersion,
    VersionSource,
)
from rubricforge.models.training.config import parse_job_config
from rubricforge.models.training.jobs import SAMPLES_KEY, submit_job
from rubricforge.models.training.orm import TrainingMetric
from rubricforge.models.training.preview import policy_endpoint
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

JUDGE_MODEL = "judge-m"
# Two criteria per category, in the order the rubrics list them.
CATEGORIES = [Category.essential, Category.important, Category.optional, Category.pitfall] * 2
WEIGHTS = {Category.essential: 5.0, Category.important: 3.0, Category.optional: 1.0}


def researcher(name: str) -> UserInfo:
    """A named researcher acting outside the app (no account row needed)."""
    return UserInfo(id=None, username=name, role=Role.researcher)


@dataclass(frozen=True)
class PromptRow:
    prompt_id: int
    rubric_id: int
    version_id: int
    criterion_ids: tuple[int, ...]
    keys: tuple[str, ...]


@dataclass(frozen=True)
class SnapshotWorld:
    snapshot_id: int
    dataset: str
    prompts: tuple[PromptRow, ...]

    @property
    def items(self) -> list[tuple[int, int]]:
        """(prompt index, criterion id) of every criterion, prompt by prompt."""
        return [(i, c) for i, p in enumerate(self.prompts) for c in p.criterion_ids]


def criteria_for(n: int, prompt: int) -> list[CriterionData]:
    out = []
    for i, cat in enumerate(CATEGORIES[:n]):
        weight = WEIGHTS.get(cat, -2.0)
        what = "recommends an outdated drug" if cat is Category.pitfall else f"states fact {i}"
        out.append(
            CriterionData(
                title=f"Point {prompt}.{i}",
                description=f"{cat.value} Criteria: the response {what} for question {prompt}.",
                category=cat,
                weight=weight,
            )
        )
    return out


def _version(
    s: Session, rubric_id: int, number: int, crit: list[CriterionData], keys: list[str]
) -> tuple[int, tuple[int, ...]]:
    version = RubricVersion(
        rubric_id=rubric_id,
        number=number,
        source=VersionSource.import_,
        content_hash=content_hash(crit),
    )
    s.add(version)
    s.flush()
    rows = [
        Criterion(
            version_id=version.id,
            position=i,
            key=key,
            title=c.title,
            description=c.description,
            category=c.category,
            weight=c.weight,
        )
        for i, (c, key) in enumerate(zip(crit, keys, strict=True))
    ]
    s.add_all(rows)
    s.flush()
    return version.id, tuple(r.id for r in rows)


def seed_snapshot(
    engine: Engine, *, dataset: str = "med", prompts: int = 4, criteria: int = 8
) -> SnapshotWorld:
    """Approved rubrics for `prompts` questions, frozen into a snapshot."""
    built = []
    with Session(engine) as s, s.begin():
        ds = Dataset(name=dataset)
        s.add(ds)
        s.flush()
        for n in range(prompts):
            prompt = Prompt(
                dataset_id=ds.id,
                external_id=f"{dataset}-{n:03d}",
                question=f"Question {n}: what should a clinician do?",
                reference_answer=f"Reference answer {n}.",
            )
            s.add(prompt)
            s.flush()
            rubric = Rubric(prompt_id=prompt.id, status=RubricStatus.approved)
            s.add(rubric)
            s.flush()
            keys = [stable_key(dataset, str(n), str(i)) for i in range(criteria)]
            version_id, ids = _version(s, rubric.id, 1, criteria_for(criteria, n), keys)
            rubric.head_version_id = rubric.approved_version_id = version_id
            built.append(PromptRow(prompt.id, rubric.id, version_id, ids, tuple(keys)))
    snapshot = create_snapshot(engine, ExportFilter(dataset=dataset), actor=OPERATOR)
    return SnapshotWorld(snapshot.id, dataset, tuple(built))


def new_version(engine: Engine, row: PromptRow, number: int = 2) -> tuple[int, tuple[int, ...]]:
    """Another version of the rubric with the same criterion keys (an edit)."""
    with Session(engine) as s, s.begin():
        crit = [
            CriterionData(c.title + " (edited)", c.description, c.category, c.weight)
            for c in s.scalars(
                select(Criterion)
                .where(Criterion.version_id == row.version_id)
                .order_by(Criterion.position)
            )
        ]
        return _version(s, row.rubric_id, number, crit, list(row.keys))


_users = itertools.count()


def user(engine: Engine, role: Role = Role.annotator, name: str | None = None) -> int:
    with Session(engine) as s, s.begin():
        u = User(username=name or f"{role.value}{next(_users)}", role=role, password_hash=None)
        s.add(u)
        s.flush()
        return u.id


def judge_run(
    engine: Engine,
    *,
    model: str = JUDGE_MODEL,
    mode: JudgeMode = JudgeMode.explicit,
    template: str | None = None,
) -> int:
    with Session(engine) as s, s.begin():
        run = JudgeRun(
            model=model,
            mode=mode,
            template_hash=template or template_hash(mode),
            status=Status.succeeded,
        )
        s.add(run)
        s.flush()
        return run.id


def response(engine: Engine, prompt_id: int, text: str = "a policy answer") -> int:
    with Session(engine) as s, s.begin():
        found = s.scalar(
            select(Response.id).where(Response.prompt_id == prompt_id, Response.text == text)
        )
        if found is not None:
            return found
        r = Response(prompt_id=prompt_id, text=text, source="policy", content_hash=text[:64])
        s.add(r)
        s.flush()
        return r.id


def verdicts(engine: Engine, run_id: int, response_id: int, met: dict[int, bool]) -> None:
    with Session(engine) as s, s.begin():
        j = Judgment(run_id=run_id, response_id=response_id, ok=True)
        s.add(j)
        s.flush()
        s.add_all(Verdict(judgment_id=j.id, criterion_id=c, met=m) for c, m in met.items())


def labels(
    engine: Engine, annotator: int, response_id: int, met: dict[int, bool], *, final: bool = False
) -> None:
    with Session(engine) as s, s.begin():
        s.add_all(
            HumanLabel(
                annotator_id=annotator,
                response_id=response_id,
                criterion_id=c,
                met=m,
                is_adjudication=final,
            )
            for c, m in met.items()
        )


def spotchecks(
    engine: Engine,
    world: SnapshotWorld,
    pairs: list[tuple[bool, bool]],
    **run: Any,
) -> int:
    """One judge run and one annotator: the i-th (judge met, human met) pair goes to the
    i-th criterion of the snapshot, prompt by prompt (one response per prompt). The run id."""
    if len(pairs) > len(world.items):
        raise ValueError(f"{len(pairs)} pairs but only {len(world.items)} criteria")
    run_id = judge_run(engine, **run)
    annotator = user(engine)
    by_prompt: dict[int, list[tuple[int, bool, bool]]] = {}
    for (p, criterion), (judge_met, human_met) in zip(world.items, pairs, strict=False):
        by_prompt.setdefault(p, []).append((criterion, judge_met, human_met))
    for p, rows in by_prompt.items():
        rid = response(engine, world.prompts[p].prompt_id)
        verdicts(engine, run_id, rid, {c: j for c, j, _ in rows})
        labels(engine, annotator, rid, {c: h for c, _, h in rows})
    return run_id


def confusion(tn: int, fp: int, fn: int, tp: int) -> list[tuple[bool, bool]]:
    """(judge met, human met) pairs with the given 2x2 counts."""
    return [(False, False)] * tn + [(True, False)] * fp + [(False, True)] * fn + [(True, True)] * tp


ANSWER = re.compile(r"answer (\d+)\.(\d+)")


class Scripted:
    """Policy and judge on one scripted server, told apart by model name.

    Policy ('policy'): 'answer <prompt>.<n>' for the n-th request about Question
    <prompt>. Judge (explicit, rubrics of 4 criteria: Essential, Important,
    Optional, Pitfall): prompt 0's completions all meet the essential and important
    criteria; prompt 1's meet the essential one on odd n only; prompt 2's always meet
    the essential one and hit the pitfall for n <= 2. `fail_judging`: a completion
    the judge answers with invalid JSON."""

    def __init__(self, server: ScriptedLLM, fail_judging: str | None = None):
        self.server = server
        self.fail_judging = fail_judging
        self.sampled: Counter[int] = Counter()
        server.respond_with(self.reply)

    def reply(self, body: dict[str, Any]) -> Reply:
        text = "\n".join(m["content"] for m in body["messages"])
        if body["model"] == "policy":
            prompt = int(re.search(r"Question (\d+):", text).group(1))  # type: ignore[union-attr]
            self.sampled[prompt] += 1
            return Reply.text(f"answer {prompt}.{self.sampled[prompt]}")
        found = ANSWER.search(text)
        assert found is not None, text
        prompt, n = int(found.group(1)), int(found.group(2))
        if found.group(0) == self.fail_judging:
            return Reply.text("not json")
        essential = prompt != 1 or n % 2 == 1
        important = prompt == 0
        pitfall = prompt == 2 and n <= 2
        met = [essential, important, False, pitfall]
        return Reply.json(
            {"verdicts": [{"index": i + 1, "met": m, "rationale": "r"} for i, m in enumerate(met)]}
        )

    def config(self, **judge: Any) -> dict[str, Any]:
        return {
            "model_name_or_path": "policy",
            "temperature": 0.7,
            "max_completion_length": 64,
            "num_generations": 4,
            "per_device_train_batch_size": 4,
            "gradient_accumulation_steps": 1,
            "judge": {
                "base_url": self.server.base_url,
                "model": JUDGE_MODEL,
                "mode": "explicit",
                "api_key_env": "none",
                **judge,
            },
        }

    def policy(self) -> EndpointConfig:
        cfg = parse_job_config(self.config())
        return policy_endpoint(cfg, base_url=self.server.base_url, api_key_env="none")


def job_config(base_url: str = "http://127.0.0.1:9/v1", **top: Any) -> dict[str, Any]:
    return {
        "model_name_or_path": "tiny-qwen",
        "judge": {"base_url": base_url, "model": JUDGE_MODEL, "mode": "explicit"},
        "num_generations": 2,
        "per_device_train_batch_size": 4,
        "gradient_accumulation_steps": 1,
        "max_steps": 3,
        **top,
    }


def submit(engine: Engine, world: SnapshotWorld, *, reason: str | None = None, **top: Any) -> int:
    with Session(engine) as s, s.begin():
        return submit_job(
            s,
            actor=researcher("rita"),
            snapshot_id=world.snapshot_id,
            config=job_config(**top),
            override_reason=reason,
        )


SAMPLE = {
    "prompt": "Question 0: what should a clinician do?",
    "completion": "Check the airway first.",
    "reward": 0.75,
    "ok": True,
    "error": None,
    "rating": None,
    "verdicts": [
        {"title": "Airway", "category": "Essential", "weight": 5.0, "met": True,
         "rationale": "It checks the airway."},
        {"title": "Outdated drug", "category": "Pitfall", "weight": -2.0, "met": False,
         "rationale": "No outdated drug."},
    ],
}  # fmt: skip


def metric_rows(engine: Engine, job_id: int, steps: int = 3) -> list[dict[str, float]]:
    """Logged steps as the trainer's callback writes them (samples on the last step)."""
    rows = [
        {
            "reward": 0.2 + 0.1 * step,
            "reward_std": 0.05,
            "kl": 0.001 * step,
            "completions/mean_length": 40.0 + step,
            "judge/failures": float(step == 2),
            "judge/failures_total": float(step >= 2),
            "rubric/essential_met_rate": 0.5 + 0.1 * step,
            "rubric/pitfall_hit_rate": 0.3 - 0.05 * step,
            "frac_reward_zero_std": 0.5,
        }
        for step in range(1, steps + 1)
    ]
    with Session(engine) as s, s.begin():
        for step, values in enumerate(rows, start=1):
            extra = {SAMPLES_KEY: [SAMPLE]} if step == steps else {}
            s.add(TrainingMetric(job_id=job_id, step=step, values={**values, **extra}))
    return rows
