"""Evaluation against a real Postgres and the scripted server: a policy's completions
scored by the rubric judge and the rubric-free judge, means and category rates as
counted by hand, stored next to the job; two runs compared prompt by prompt; every
bad input is a message and stores nothing."""

from __future__ import annotations

import math

import pytest
from eval_support import EvalScript
from llm_server import ScriptedLLM
from rubricforge.models.accounts.orm import Role
from rubricforge.models.accounts.permissions import UserInfo
from rubricforge.models.core.db import session_scope
from rubricforge.models.core.errors import (
    InvalidInputError,
    LLMConfigError,
    NotFoundError,
    PermissionDenied,
)
from rubricforge.models.llm.config import EndpointConfig
from rubricforge.models.training.evaluation import (
    EndpointPolicy,
    EvalError,
    run_eval,
)
from rubricforge.models.training.evaluation_compare import compare_runs, paired_diff
from rubricforge.models.training.evaluation_runs import get_eval_run, list_eval_runs
from rubricforge.models.training.orm import EvalRun, EvalScore
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from training_support import SnapshotWorld, researcher, seed_snapshot, submit

pytestmark = pytest.mark.db

T975_DF2 = 4.302652729911275  # Student's t, 97.5th percentile, 2 degrees of freedom


@pytest.fixture
def world(engine: Engine) -> SnapshotWorld:
    return seed_snapshot(engine, prompts=3, criteria=4)


def stored(engine: Engine) -> tuple[int, int]:
    with Session(engine) as s:
        return (
            s.scalar(select(func.count()).select_from(EvalRun)) or 0,
            s.scalar(select(func.count()).select_from(EvalScore)) or 0,
        )


def evaluate(
    engine: Engine, world: SnapshotWorld, script: EvalScript, policy: str, **kw: object
) -> int:
    return run_eval(
        engine,
        actor=researcher("rita"),
        snapshot_id=world.snapshot_id,
        judge=script.judge(),
        policy=script.policy(policy),
        label=policy,
        **kw,  # type: ignore[arg-type]
    )


def test_means_and_rates_match_a_hand_count(
    engine: Engine, world: SnapshotWorld, llm_server: ScriptedLLM
) -> None:
    script = EvalScript(llm_server)
    job = submit(engine, world, reason="pilot")
    run_id = evaluate(engine, world, script, "base", job_id=job)
    with session_scope(engine) as s:
        run, scores = get_eval_run(s, run_id)
        assert [r.id for r in list_eval_runs(s)] == [run_id]
    assert (run.job_id, run.policy_label, run.policy_kind, run.n) == (job, "base", "endpoint", 3)
    assert run.policy_source == f"base at {llm_server.base_url}"
    # RaR Eq. 1 with weights 5, 3, 1, -2: 11/11, 5/11, 2/11; Likert (rating - 1) / 9.
    assert [s.rubric_reward for s in scores] == pytest.approx([1.0, 5 / 11, 2 / 11])
    assert [s.likert_reward for s in scores] == pytest.approx([1.0, 1 / 3, 0.0])
    assert run.rubric_mean == pytest.approx(18 / 33)
    assert run.likert_mean == pytest.approx(4 / 9)
    assert run.category_rates == pytest.approx(
        {"Essential": 2 / 3, "Important": 1 / 3, "Optional": 1 / 3, "Pitfall": 1 / 3}
    )
    assert [s.completion for s in scores] == ["base answer 0", "base answer 1", "base answer 2"]
    assert [s.uid for s in scores] == ["med-000", "med-001", "med-002"]
    assert run.judge["mode"] == "explicit" and run.judge["model"] == "judge-m"
    assert run.judge["template_hash"] != run.judge["likert_template_hash"]
    # The rubric-free judge never saw the rubric; the rubric judge always did.
    judged = [r.text for r in llm_server.chat_requests if r.body["model"] == "judge-m"]
    assert sum("RUBRIC (" in t for t in judged) == 3 and len(judged) == 6


def test_two_runs_compared_prompt_by_prompt(
    engine: Engine, world: SnapshotWorld, llm_server: ScriptedLLM
) -> None:
    script = EvalScript(llm_server)
    base = evaluate(engine, world, script, "base")
    trained = evaluate(engine, world, script, "trained")
    with session_scope(engine) as s:
        cmp = compare_runs(s, base, trained)
    assert cmp.same_snapshot and len(cmp.prompts) == 3
    # Rubric: trained - base = 0, 6/11, 5/11; mean 1/3, sd of the diffs by hand.
    diffs = [0, 6 / 11, 5 / 11]
    assert [p.rubric_diff for p in cmp.prompts] == pytest.approx(diffs)
    mean = sum(diffs) / 3
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 2)
    half = T975_DF2 * sd / math.sqrt(3)
    assert cmp.rubric.n == 3 and cmp.rubric.mean_diff == pytest.approx(11 / 33)
    assert (cmp.rubric.low, cmp.rubric.high) == pytest.approx((mean - half, mean + half))
    # Rubric-free: 0, 1/3, 1/3.
    assert cmp.likert.mean_diff == pytest.approx(2 / 9)
    assert cmp.likert.baseline_mean == pytest.approx(4 / 9)
    assert cmp.likert.candidate_mean == pytest.approx(2 / 3)
    with session_scope(engine) as s, pytest.raises(InvalidInputError, match="two different"):
        compare_runs(s, base, base)


def test_the_paired_interval_by_hand() -> None:
    d = paired_diff("rubric", [(0.5, 0.6), (0.5, 0.7), (0.5, 0.8)])  # diffs 0.1, 0.2, 0.3
    assert d.mean_diff == pytest.approx(0.2)
    half = T975_DF2 * 0.1 / math.sqrt(3)
    assert (d.low, d.high) == pytest.approx((0.2 - half, 0.2 + half))
    same = paired_diff("rubric", [(0.5, 0.6), (0.4, 0.5)])  # no spread: the mean is exact
    assert (same.low, same.high) == pytest.approx((0.1, 0.1))
    one = paired_diff("rubric", [(0.5, 0.6)])
    assert one.n == 1 and one.low is None


def test_a_failed_judgment_is_counted_not_scored(
    engine: Engine, world: SnapshotWorld, llm_server: ScriptedLLM
) -> None:
    script = EvalScript(llm_server, fail={("base", 1)})
    run_id = evaluate(engine, world, script, "base")
    with session_scope(engine) as s:
        run, scores = get_eval_run(s, run_id)
    assert [s.rubric_reward for s in scores][1] is None
    assert scores[1].error and "not json" not in (scores[0].error or "")
    assert run.rubric_failures == 1 and run.likert_failures == 1
    assert run.rubric_mean == pytest.approx((1 + 2 / 11) / 2)
    assert run.likert_mean == pytest.approx(0.5)
    assert run.category_rates["Essential"] == pytest.approx(1 / 2)


def test_bad_input_stores_nothing(
    engine: Engine, world: SnapshotWorld, llm_server: ScriptedLLM
) -> None:
    script = EvalScript(llm_server)
    with pytest.raises(NotFoundError, match="export snapshot 999 does not exist"):
        run_eval(
            engine, actor=researcher("rita"), snapshot_id=999, judge=script.judge(),
            policy=script.policy("base"), label="base",
        )  # fmt: skip
    with pytest.raises(NotFoundError, match="training job 999 does not exist"):
        evaluate(engine, world, script, "base", job_id=999)
    unreachable = EndpointPolicy(
        EndpointConfig(base_url="http://127.0.0.1:9/v1", model="base", api_key_env=None,
                       max_retries=0)
    )  # fmt: skip
    with pytest.raises(EvalError, match="policy endpoint base at http://127.0.0.1:9/v1 failed"):
        run_eval(
            engine, actor=researcher("rita"), snapshot_id=world.snapshot_id,
            judge=script.judge(), policy=unreachable, label="base",
        )  # fmt: skip
    dead_judge = script.judge().model_copy(update={"base_url": "http://127.0.0.1:9/v1"})
    with pytest.raises(EvalError, match="failed on every completion"):
        run_eval(
            engine, actor=researcher("rita"), snapshot_id=world.snapshot_id,
            judge=dead_judge, policy=script.policy("base"), label="base",
        )  # fmt: skip
    for label in ("   ", "x" * 201):
        with pytest.raises(InvalidInputError, match="name the policy"):
            run_eval(
                engine, actor=researcher("rita"), snapshot_id=world.snapshot_id,
                judge=script.judge(), policy=script.policy("base"), label=label,
            )  # fmt: skip
    with pytest.raises(InvalidInputError, match="ignores the rubric"):
        run_eval(
            engine, actor=researcher("rita"), snapshot_id=world.snapshot_id,
            judge=script.judge(mode="likert"), policy=script.policy("base"), label="base",
        )  # fmt: skip
    asked = len(llm_server.chat_requests)
    with pytest.raises(LLMConfigError, match="NO_SUCH_KEY_VAR is not set"):
        run_eval(
            engine, actor=researcher("rita"), snapshot_id=world.snapshot_id,
            judge=script.judge(api_key_env="NO_SUCH_KEY_VAR"), policy=script.policy("base"),
            label="base",
        )  # fmt: skip
    assert len(llm_server.chat_requests) == asked  # refused before a single policy call
    annotator = UserInfo(id=None, username="ann", role=Role.annotator)
    with pytest.raises(PermissionDenied):
        run_eval(
            engine, actor=annotator, snapshot_id=world.snapshot_id,
            judge=script.judge(), policy=script.policy("base"), label="base",
        )  # fmt: skip
    assert stored(engine) == (0, 0)
