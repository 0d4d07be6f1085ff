"""LoRA as a job option: the `lora` section is validated at submit, and a worker
trains a tiny job with it through TRL's GRPOTrainer (peft_config), saving only an
adapter whose weights moved while the base model's stayed as they were."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import torch
from llm_server import ScriptedLLM
from peft import PeftModel
from rubric_judge import WordJudge
from rubricforge.models.core.db import session_scope
from rubricforge.models.core.status import Status
from rubricforge.models.training.config import JobConfigError, parse_job_config
from rubricforge.models.training.orm import TrainingJob
from rubricforge.models.training.worker_policy import MODELS_ENV, RUNS_DIR_ENV
from rubricforge.trainer.config import peft_config
from rubricforge.trainer.tiny import build_tiny_model
from rubricforge.trainer.worker import Worker
from safetensors.torch import load_file
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from test_learning import TRAIN, snapshot
from transformers import AutoModelForCausalLM

torch.set_num_threads(1)


def config(base_url: str = "http://127.0.0.1:9/v1", **top: Any) -> dict[str, Any]:
    return {
        "model_name_or_path": "tiny",
        "judge": {
            "base_url": base_url,
            "model": "word-judge",
            "mode": "explicit",
            "api_key_env": "none",
        },
        "num_generations": 4,
        "per_device_train_batch_size": 8,
        "gradient_accumulation_steps": 1,
        "max_steps": 3,
        "max_completion_length": 8,
        "learning_rate": 1e-2,
        "warmup_ratio": 0.0,
        "gradient_checkpointing": False,
        **top,
    }


def test_lora_is_off_by_default_and_its_section_fills_peft_defaults() -> None:
    cfg = config()
    assert parse_job_config(cfg).lora is None
    assert peft_config(parse_job_config(cfg)) is None
    lora = parse_job_config({**cfg, "lora": {"r": 4, "target_modules": ["q_proj", "v_proj"]}})
    peft = peft_config(lora)
    assert (peft.r, peft.lora_alpha, peft.lora_dropout) == (4, 32, 0.05)
    assert set(peft.target_modules) == {"q_proj", "v_proj"}
    assert peft.task_type == "CAUSAL_LM"


@pytest.mark.parametrize(
    ("lora", "field", "says"),
    [
        ({"r": 0}, "lora.r", "greater than or equal to 1"),
        ({"r": 100_000}, "lora.r", "less than or equal to 1024"),
        ({"alpha": 0}, "lora.alpha", "greater than or equal to 1"),
        ({"alpha": 2.5}, "lora.alpha", "valid integer"),
        ({"dropout": 1.0}, "lora.dropout", "less than 1"),
        ({"target_modules": []}, "lora.target_modules", "name 1 to 64 modules"),
        ({"target_modules": ["q_proj", "../adapter"]}, "lora.target_modules", "not a module name"),
        ({"target_modules": "everything"}, "lora.target_modules", "nor all-linear"),
        ({"rank": 8}, "lora.rank", "unknown setting"),
    ],
)
def test_a_bad_lora_section_is_refused_with_its_field(
    lora: dict[str, Any], field: str, says: str
) -> None:
    cfg = config()
    with pytest.raises(JobConfigError) as caught:
        parse_job_config({**cfg, "lora": lora})
    assert [loc for loc, _ in caught.value.problems] == [field]
    assert says in caught.value.problems[0][1]


@pytest.mark.db
def test_a_bad_lora_section_queues_nothing(engine: Engine, tmp_path: Path) -> None:
    from rubricforge.models.accounts.permissions import OPERATOR
    from rubricforge.models.training.jobs import submit_job

    snapshot_id = snapshot(engine, tmp_path, "train", TRAIN[:2])
    cfg = config()
    with pytest.raises(JobConfigError, match="lora.dropout"), session_scope(engine) as s:
        submit_job(
            s, actor=OPERATOR, snapshot_id=snapshot_id, config={**cfg, "lora": {"dropout": -1}},
            override_reason="lora test",
        )  # fmt: skip
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(TrainingJob)) == 0


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.db
@pytest.mark.slow
def test_a_lora_job_trains_and_saves_only_the_adapter(
    engine: Engine, llm_server: ScriptedLLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rubricforge.models.accounts.permissions import OPERATOR
    from rubricforge.models.training.jobs import submit_job

    base = build_tiny_model(tmp_path / "tiny")
    base_sha = _sha(base / "model.safetensors")
    monkeypatch.setenv(MODELS_ENV, f"tiny={base}")
    monkeypatch.setenv(RUNS_DIR_ENV, str(tmp_path / "runs"))
    judge = WordJudge(llm_server)
    snapshot_id = snapshot(engine, tmp_path, "train", TRAIN)
    cfg = config(llm_server.base_url)
    lora = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}
    with session_scope(engine) as s:
        job_id = submit_job(
            s, actor=OPERATOR, snapshot_id=snapshot_id, config={**cfg, "lora": lora},
            override_reason="lora test: no spot-check labels",
        )  # fmt: skip
    assert Worker(engine, "lora-worker", lease_seconds=120).run_once() is True

    with Session(engine) as s:
        row = s.get_one(TrainingJob, job_id)
        assert (row.status, row.error) == (Status.succeeded, None)
        out = Path(row.output_uri or "")
    assert judge.judged == 3 * 8
    # Only the adapter is saved, and the base model's weights are untouched.
    assert (out / "adapter_config.json").exists()
    assert not (out / "model.safetensors").exists()
    assert _sha(base / "model.safetensors") == base_sha
    adapter = load_file(out / "adapter_model.safetensors")
    assert adapter and all("lora_" in key for key in adapter)
    assert {k.split(".")[-3] for k in adapter} == {"q_proj", "v_proj"}
    # lora_B starts at zero: non-zero means the adapter trained.
    moved = [k for k, v in adapter.items() if "lora_B" in k and v.abs().max() > 0]
    assert moved
    # The adapter changes what the base model computes.
    model = AutoModelForCausalLM.from_pretrained(base)
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        before = model(ids).logits
        after = PeftModel.from_pretrained(model, out)(ids).logits
    assert not torch.allclose(before, after)
