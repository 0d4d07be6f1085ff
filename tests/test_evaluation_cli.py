"""`rubricforge eval run / list / compare` as an operator types them, against a real
Postgres and the scripted server; and a checkpoint (the tiny Qwen2 model, on the
CPU) evaluated end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from eval_support import EvalScript
from llm_server import Reply, ScriptedLLM, all_met
from rubricforge.models.training.orm import EvalRun
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from training_support import JUDGE_MODEL, SnapshotWorld, seed_snapshot, submit
from typer.testing import CliRunner

from rubricforge.cli import app

pytestmark = pytest.mark.db


@pytest.fixture
def world(engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch) -> SnapshotWorld:
    monkeypatch.setenv("DATABASE_URL", db_url)
    return seed_snapshot(engine, prompts=3, criteria=4)


def judge_args(server: ScriptedLLM) -> list[str]:
    return [
        "--set", f"judge.base_url={server.base_url}", "--set", f"judge.model={JUDGE_MODEL}",
        "--set", "judge.mode=explicit", "--set", "judge.api_key_env=none",
    ]  # fmt: skip


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def runs(engine: Engine) -> list[EvalRun]:
    with Session(engine) as s:
        return list(s.scalars(select(EvalRun).order_by(EvalRun.id)))


def test_evaluate_two_policies_and_compare_them(
    engine: Engine, world: SnapshotWorld, llm_server: ScriptedLLM
) -> None:
    EvalScript(llm_server)
    snap = str(world.snapshot_id)
    code, out = cli(
        "eval", "run", "--snapshot", snap, "--policy-url", llm_server.base_url,
        "--policy-model", "base", *judge_args(llm_server),
    )  # fmt: skip
    assert code == 0, out
    assert "base (endpoint base at" in out and "3 prompt(s)" in out
    assert "rubric reward mean 0.545 (0 failed)" in out  # 18/33
    assert "rubric-free (Likert) mean 0.444 (0 failed)" in out  # 4/9
    assert "Essential  67%" in out and "Pitfall    33%" in out

    # The trained policy, stored next to its job; the job's judge (the scripted one).
    job = submit_with_judge(engine, world, llm_server)
    code, out = cli(
        "eval", "run", "--snapshot", snap, "--job", str(job), "--policy-url",
        llm_server.base_url, "--policy-model", "trained", "--set", "judge.api_key_env=none",
        "--label", "trained",
    )  # fmt: skip
    assert code == 0, out
    assert "not held out" in out  # the job trained on this very snapshot
    assert "rubric reward mean 0.879" in out  # (11 + 11 + 7) / 33
    base, trained = runs(engine)
    assert (base.job_id, trained.job_id, trained.policy_label) == (None, job, "trained")

    code, out = cli("eval", "list")
    assert code == 0, out
    assert [line.split()[-1] for line in out.splitlines()[1:]] == ["trained", "base"]
    code, out = cli("eval", "compare", str(base.id), str(trained.id))
    assert code == 0, out
    assert "rubric       n=3: 0.545 -> 0.879, difference +0.333 (95% CI" in out
    assert "rubric-free  n=3: 0.444 -> 0.667, difference +0.222 (95% CI" in out


def submit_with_judge(engine: Engine, world: SnapshotWorld, server: ScriptedLLM) -> int:
    with_judge = {"base_url": server.base_url, "model": JUDGE_MODEL, "mode": "explicit"}
    return submit(engine, world, reason="pilot", judge=with_judge)


def test_bad_input_is_a_message_and_stores_nothing(
    engine: Engine, world: SnapshotWorld, llm_server: ScriptedLLM, tmp_path: Path
) -> None:
    EvalScript(llm_server)
    snap = str(world.snapshot_id)
    policy = ["--policy-url", llm_server.base_url, "--policy-model", "base"]
    code, out = cli("eval", "run", "--snapshot", "999", *policy, *judge_args(llm_server))
    assert code == 1 and "export snapshot 999 does not exist" in out
    code, out = cli("eval", "run", "--snapshot", snap, *policy)
    assert code == 1 and "name a judge" in out
    code, out = cli("eval", "run", "--snapshot", snap, *judge_args(llm_server))
    assert code == 1 and "name the policy" in out
    code, out = cli(
        "eval", "run", "--snapshot", snap, "--checkpoint", str(tmp_path / "nothing"),
        *judge_args(llm_server),
    )  # fmt: skip
    assert code == 1 and "no model checkpoint at" in out
    code, out = cli("eval", "run", "--snapshot", snap, "--job", "999", *policy)
    assert code == 1 and "training job 999 does not exist" in out
    code, out = cli("eval", "compare", "1", "2")
    assert code == 1 and "eval run 1 does not exist" in out
    assert "Traceback" not in out and runs(engine) == []


@pytest.mark.slow
def test_a_checkpoint_is_evaluated_on_the_cpu(
    engine: Engine, world: SnapshotWorld, llm_server: ScriptedLLM, tmp_path: Path
) -> None:
    from rubricforge.models.core.db import session_scope
    from rubricforge.models.training.evaluation_runs import get_eval_run
    from rubricforge.trainer.evaluate import CheckpointPolicy
    from rubricforge.trainer.tiny import build_tiny_model

    folder = build_tiny_model(tmp_path / "tiny")

    def judge(body: dict[str, object]) -> Reply:
        text = str(body["messages"])
        return all_met(body) if "RUBRIC (" in text else Reply.json({"rating": 5})

    llm_server.respond_with(judge)
    code, out = cli(
        "eval", "run", "--snapshot", str(world.snapshot_id), "--checkpoint", str(folder),
        "--max-tokens", "6", *judge_args(llm_server),
    )  # fmt: skip
    assert code == 0, out
    assert "(checkpoint " in out and "3 prompt(s)" in out
    # Every criterion met, the pitfall too: (5 + 3 + 1) / 11; Likert 5: 4/9.
    assert "rubric reward mean 0.818" in out and "rubric-free (Likert) mean 0.444" in out
    [run] = runs(engine)
    with session_scope(engine) as s:
        _, scores = get_eval_run(s, run.id)
    # Greedy decoding: the stored completions are what the checkpoint writes again.
    again = CheckpointPolicy.at(folder, max_new_tokens=6).generate(
        [
            [{"role": "user", "content": f"Question {n}: what should a clinician do?"}]
            for n in range(3)
        ]
    )
    assert [s.completion for s in scores] == again
    assert run.policy_kind == "checkpoint" and run.policy_source == str(folder.resolve())
