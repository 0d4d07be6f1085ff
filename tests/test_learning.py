"""Does training follow the rubric? A tiny policy trained through the real worker
path (queue, TRL's GRPOTrainer, the judge over HTTP) against approved rubrics whose
criteria a deterministic judge decides (tests/rubric_judge.py: "Mentions the word
'fever'" is met iff the completion says fever).

Measure: the held-out rubric reward, i.e. completions sampled after training on
prompts the run never saw, scored by the same judge (trainer/heldout.py). Baseline:
the same measure on the model at learning rate 0, which is the starting model
itself (Adam moves no weight at lr 0; the config refuses 0, so the base model
stands for that run). The control: the same run with the judge shuffling rewards
across completions; the rise must come from the rubric, not from training as such.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from llm_server import ScriptedLLM
from rubric_judge import WordJudge, word_criterion
from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.core.db import session_scope
from rubricforge.models.core.status import Status
from rubricforge.models.data.exporter import ExportFilter, create_snapshot
from rubricforge.models.data.snapshot_rows import load_snapshot_rows
from rubricforge.models.judging.judge import Judge, JudgeConfig
from rubricforge.models.llm.config import EndpointConfig
from rubricforge.models.training.jobs import job_metrics, submit_job
from rubricforge.models.training.orm import TrainingJob
from rubricforge.models.training.worker_policy import MODELS_ENV, RUNS_DIR_ENV
from rubricforge.trainer.heldout import heldout_reward
from rubricforge.trainer.tiny import build_tiny_model
from rubricforge.trainer.worker import Worker
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from test_trainer_queue import make_snapshot

pytestmark = [pytest.mark.db, pytest.mark.slow]
torch.set_num_threads(1)

WORDS = ["fever", "cough", "breath", "weather"]
TRAIN = [
    "What should a parent watch for in a child at night?",
    "Describe what the clinic nurse asks at triage.",
    "How would you explain asthma to a school teacher?",
    "What does a GP check first in an older patient?",
    "Summarise the case for the handover.",
    "What should a traveller returning home report?",
    "Which signs send a runner to the doctor?",
    "What would you tell a worried grandparent?",
]
HELD_OUT = [
    "Write a short note for the ward round.",
    "What does the pharmacist ask before advising?",
    "Give advice to a student living in a dormitory.",
    "What should a farmer tell the rural clinic?",
]
STEPS = 40
SEED = 7


def rar_rows(prefix: str, questions: list[str]) -> list[dict[str, Any]]:
    rubric = [word_criterion(w, weight) for w, weight in zip(WORDS, [5, 5, 4, 3], strict=True)]
    return [
        {
            "uid": f"{prefix}-{n:02d}",
            "question": q,
            "reference_answer": f"Ask about {', '.join(WORDS)}.",
            "rubric": rubric,
        }
        for n, q in enumerate(questions)
    ]


def snapshot(engine: Engine, tmp_path: Path, name: str, questions: list[str]) -> int:
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rar_rows(name, questions)))
    make_snapshot(engine, path, dataset=name)
    return create_snapshot(engine, ExportFilter(dataset=name), actor=OPERATOR).id


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("learning-tiny"), seed=SEED)


@pytest.fixture
def judge(llm_server: ScriptedLLM) -> WordJudge:
    return WordJudge(llm_server)


def train(engine: Engine, snapshot_id: int, judge: WordJudge, runs: Path, **overrides: Any) -> Path:
    config = {
        "model_name_or_path": "tiny",
        "judge": {
            "base_url": judge.server.base_url,
            "model": "word-judge",
            "mode": "explicit",
            "api_key_env": "none",
        },
        "run_name": "learn",
        "num_generations": 8,
        "per_device_train_batch_size": 16,
        "gradient_accumulation_steps": 1,
        "max_steps": STEPS,
        "max_completion_length": 12,
        "learning_rate": 1e-2,
        "lr_scheduler_type": "constant",
        "warmup_ratio": 0.0,
        "temperature": 1.0,
        "gradient_checkpointing": False,
        "seed": SEED,
        **overrides,
    }
    with session_scope(engine) as s:
        job_id = submit_job(
            s, actor=OPERATOR, snapshot_id=snapshot_id, config=config,
            override_reason="learning test: no spot-check labels",
        )  # fmt: skip
    assert Worker(engine, "learner", lease_seconds=120).run_once() is True
    with Session(engine) as s:
        row = s.get_one(TrainingJob, job_id)
        assert (row.status, row.error) == (Status.succeeded, None)
        assert row.output_uri is not None
        with session_scope(engine) as s2:
            rewards = [v.get("reward") for _, v in job_metrics(s2, job_id)]
        print("train rewards", [round(r, 2) for r in rewards if r is not None])
        return Path(row.output_uri)


def score(model_dir: Path, engine: Engine, heldout: int, server: ScriptedLLM) -> float:
    endpoint = EndpointConfig(base_url=server.base_url, model="word-judge", api_key_env="none")
    judge = Judge(JudgeConfig(endpoint=endpoint))
    rows = load_snapshot_rows(engine, heldout)
    result = heldout_reward(model_dir, rows, judge, per_prompt=32, max_new_tokens=12, seed=SEED)
    assert result.failures == 0
    return result.mean_reward


def test_training_raises_the_heldout_rubric_reward_and_shuffled_rewards_do_not(
    engine: Engine,
    tiny_model: Path,
    judge: WordJudge,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(MODELS_ENV, f"tiny={tiny_model}")
    monkeypatch.setenv(RUNS_DIR_ENV, str(tmp_path / "runs"))
    train_id = snapshot(engine, tmp_path, "train", TRAIN)
    heldout = snapshot(engine, tmp_path, "heldout", HELD_OUT)

    base = score(tiny_model, engine, heldout, judge.server)
    trained = score(train(engine, train_id, judge, tmp_path), engine, heldout, judge.server)
    judge.shuffle = True
    shuffled = score(
        train(engine, train_id, judge, tmp_path, run_name="shuffled"),
        engine,
        heldout,
        judge.server,
    )
    print(f"held-out reward: base {base:.3f} trained {trained:.3f} shuffled {shuffled:.3f}")
    assert trained - base >= 0.3
    assert shuffled - base <= 0.05
