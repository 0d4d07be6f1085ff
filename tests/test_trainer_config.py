"""Job configs: what a researcher may submit, what the worker hands TRL, and the
accelerate configs the docs ship. Unit tier: no database, no training."""

from __future__ import annotations

from pathlib import Path

import pytest
from rubricforge.models.training.config import JobConfig, JobConfigError, parse_job_config

REPO = Path(__file__).resolve().parent.parent
JUDGE = {"base_url": "http://localhost:8000/v1", "model": "gpt-4o-mini"}


def config(**overrides: object) -> dict:
    return {"model_name_or_path": "Qwen/Qwen2.5-7B", "judge": dict(JUDGE), **overrides}


def problems(data: object) -> dict[str, str]:
    with pytest.raises(JobConfigError) as err:
        parse_job_config(data)
    assert "nothing was queued" in str(err.value)
    return dict(err.value.problems)


def test_defaults_follow_rars_recipe() -> None:
    cfg = parse_job_config(config())
    assert (cfg.num_generations, cfg.learning_rate, cfg.temperature) == (16, 5e-6, 1.0)
    assert (cfg.max_steps, cfg.max_completion_length, cfg.warmup_ratio) == (300, 3584, 0.1)
    assert cfg.lr_scheduler_type == "constant_with_warmup"
    # RaR's effective batch of 96 completions: 6 prompts x 16 rollouts per step.
    effective = cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps
    assert (effective, cfg.prompts_per_step) == (96, 6)
    assert cfg.judge.mode.value == "implicit"


def test_every_field_has_a_help_string() -> None:
    from rubricforge.models.training.config import JudgeSpec

    for model in (JobConfig, JudgeSpec):
        missing = [name for name, f in model.model_fields.items() if not f.description]
        assert missing == [], f"{model.__name__} fields without help: {missing}"


def test_batch_not_divisible_by_generations_says_how_to_fix() -> None:
    found = problems(config(per_device_train_batch_size=12, gradient_accumulation_steps=1))
    msg = found["config"]
    assert "12 x 1 x 1 = 12 must be divisible by num_generations (16)" in msg
    assert "set per_device_train_batch_size to 16" in msg


def test_batch_arithmetic_counts_processes() -> None:
    # RaR on 8 GPUs: 12 per device x 8 = 96, divisible by 16.
    cfg = parse_job_config(
        config(per_device_train_batch_size=12, gradient_accumulation_steps=1, num_processes=8)
    )
    assert cfg.prompts_per_step == 6


def test_missing_base_model_and_judge_are_named() -> None:
    found = problems({"max_steps": 3})
    assert found["model_name_or_path"].startswith("required: Base policy")
    assert found["judge"].startswith("required:")


def test_blank_base_model_is_refused() -> None:
    assert "name the base model" in problems(config(model_name_or_path="  "))["model_name_or_path"]


def test_every_problem_is_listed_at_once() -> None:
    found = problems(
        config(
            num_generations=1,
            learning_rate=-1,
            loss_type="ppo",
            max_stepz=3,
            judge={**JUDGE, "base_url": "localhost:8000", "concurrency": 0},
        )
    )
    assert set(found) == {
        "num_generations",
        "learning_rate",
        "loss_type",
        "max_stepz",
        "judge.base_url",
        "judge.concurrency",
    }
    assert "unknown setting" in found["max_stepz"]
    assert "is not an http(s) URL" in found["judge.base_url"]


def test_the_judges_timeout_and_retries_reach_its_client() -> None:
    cfg = parse_job_config(config(judge={**JUDGE, "timeout": 5, "max_retries": 1}))
    endpoint = cfg.judge.endpoint()
    assert (endpoint.timeout, endpoint.max_retries) == (5.0, 1)
    default = parse_job_config(config()).judge.endpoint()
    assert (default.timeout, default.max_retries) == (120.0, 5)
    found = problems(config(judge={**JUDGE, "timeout": 0, "max_retries": -1}))
    assert set(found) == {"judge.timeout", "judge.max_retries"}


def test_not_a_mapping() -> None:
    assert "must be a mapping" in problems(["max_steps", 3])["config"]


def test_trl_args_cannot_shadow_our_fields() -> None:
    found = problems(config(trl_args={"beta": 0.1, "report_to": "wandb", "top_p": 0.9}))
    assert "beta, report_to cannot go in trl_args" in found["trl_args"]


def test_vllm_server_mode_needs_its_url() -> None:
    assert "vllm_server_base_url" in problems(config(use_vllm=True, vllm_mode="server"))["config"]


def test_worker_builds_trls_config(tmp_path: Path) -> None:
    from rubricforge.trainer.config import to_grpo_config
    from trl import GRPOConfig

    cfg = parse_job_config(
        config(
            per_device_train_batch_size=4,
            gradient_accumulation_steps=2,
            num_generations=4,
            beta=0.04,
            max_steps=7,
            save_steps=5,
            trl_args={"top_p": 0.95},
        )
    )
    args = to_grpo_config(cfg, tmp_path / "out")
    assert isinstance(args, GRPOConfig)
    assert args.generation_batch_size == 8  # 4 per device x 2 accumulation steps, one process
    assert (args.beta, args.max_steps, args.top_p, args.loss_type) == (0.04, 7, 0.95, "dapo")
    assert args.save_strategy == "steps" and args.save_steps == 5
    assert args.report_to == []  # metrics go to Postgres through our callback only
    assert args.output_dir == str(tmp_path / "out")


def test_an_unknown_trl_argument_is_refused_before_it_reaches_trl() -> None:
    found = problems(config(per_device_train_batch_size=16, trl_args={"top_q": 1}))
    assert found["trl_args"].startswith("top_q is not allowed in trl_args; allowed: adam_beta1")


@pytest.mark.parametrize(
    "name, machines, processes",
    [("zero3_single_node.yaml", 1, 8), ("zero3_multi_node.yaml", 2, 16)],
)
def test_accelerate_configs_parse(name: str, machines: int, processes: int) -> None:
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import DistributedType

    cfg = load_config_from_file(str(REPO / "docs" / "accelerate" / name))
    assert cfg.distributed_type == DistributedType.DEEPSPEED
    assert cfg.deepspeed_config["zero_stage"] == 3
    assert cfg.deepspeed_config["zero3_init_flag"] is True
    assert (cfg.num_machines, cfg.num_processes) == (machines, processes)
    assert cfg.mixed_precision == "bf16"
    # The documented job settings for that cluster pass our batch check.
    per_device = 96 // processes
    parse_job_config(
        config(
            per_device_train_batch_size=per_device,
            gradient_accumulation_steps=1,
            num_processes=processes,
        )
    )


# --- the reward preset ----------------------------------------------------------------


def test_the_preset_is_the_config_shape_and_old_configs_still_load() -> None:
    cfg = parse_job_config(config(judge={**JUDGE, "preset": "rar_explicit_categories"}))
    assert cfg.judge.preset.value == "rar_explicit_categories"
    assert (cfg.judge.mode.value, cfg.judge.aggregation.value) == ("explicit", "rar_explicit")
    stored = cfg.model_dump(mode="json")["judge"]
    assert stored["preset"] == "rar_explicit_categories"
    assert "mode" not in stored and "aggregation" not in stored
    assert parse_job_config({**config(), "judge": stored}) == cfg  # round trip
    # A job stored before presets (every default dumped) and hand-written old configs.
    old = {**JUDGE, "mode": "implicit", "aggregation": "rar_explicit", "per_criterion": False}
    assert parse_job_config(config(judge=old)).judge.preset.value == "implicit"
    for mode, aggregation, preset in [
        ("explicit", "rar_explicit", "rar_explicit_weights"),
        ("explicit", "points", "points"),
        ("likert", None, "direct_likert"),
        ("reference_likert", "rar_explicit", "reference_likert"),
    ]:
        judge = {**JUDGE, "mode": mode, **({"aggregation": aggregation} if aggregation else {})}
        assert parse_job_config(config(judge=judge)).judge.preset.value == preset
    # mode/aggregation beside a preset they agree with are fine
    agree = {**JUDGE, "preset": "points", "mode": "explicit", "aggregation": "points"}
    assert parse_job_config(config(judge=agree)).judge.preset.value == "points"


def test_contradictory_judge_settings_are_refused_with_the_preset_to_choose() -> None:
    found = problems(config(judge={**JUDGE, "preset": "implicit", "mode": "explicit"}))
    assert found["judge"].startswith("preset implicit contradicts mode explicit")
    assert "Give the preset alone" in found["judge"]
    found = problems(config(judge={**JUDGE, "preset": "rar_explicit_weights",
                                   "aggregation": "points"}))  # fmt: skip
    assert "preset rar_explicit_weights contradicts aggregation points" in found["judge"]
    found = problems(config(judge={**JUDGE, "mode": "explicit", "aggregation": "implicit"}))
    assert "choose preset rar_explicit_weights, points or implicit" in found["judge"]
    found = problems(config(judge={**JUDGE, "mode": "likert", "aggregation": "points"}))
    assert "aggregation points needs one verdict per criterion" in found["judge"]
    found = problems(config(judge={**JUDGE, "preset": "implicit", "per_criterion": True}))
    assert "per_criterion needs per-criterion verdicts" in found["judge"]
    found = problems(config(judge={**JUDGE, "preset": "likert_direct"}))
    assert "rar_explicit_categories" in found["judge.preset"]  # the valid names are listed


def test_provenance_records_the_preset_and_its_weights() -> None:
    paper = parse_job_config(config(judge={**JUDGE, "preset": "rar_explicit_categories"}))
    assert paper.judge.provenance()["weights"]["map"] == {
        "Essential": 1.0, "Important": 0.7, "Optional": 0.3, "Pitfall": 0.9,
    }  # fmt: skip
    own = parse_job_config(config(judge={**JUDGE, "preset": "points"})).judge.provenance()
    assert own["preset"] == "points" and own["weights"] == {"source": "rubric"}
    predefined = parse_job_config(config(judge={**JUDGE, "preset": "predefined"}))
    record = predefined.judge.provenance()["weights"]
    assert "predefined-v1" in record["source"] and len(record["criteria"]) == 7
    # The predefined rubric is part of the judge's template: it is a different judge.
    assert predefined.judge.judge_config().template_hash != (
        parse_job_config(config(judge={**JUDGE, "preset": "rar_explicit_weights"}))
        .judge.judge_config()
        .template_hash
    )


# --- batch semantics ----------------------------------------------------------------


def test_prompts_per_step_is_named_and_checked() -> None:
    # RaR's "batch 96" read as completions: 6 prompts x 16 rollouts.
    assert parse_job_config(config(prompts_per_step=6)).prompts_per_step == 6
    assert parse_job_config(config()).model_dump()["prompts_per_step"] == 6  # stored, explicit
    msg = problems(config(prompts_per_step=96))["config"]
    assert msg.startswith("prompts_per_step x num_generations = 96 x 16 = 1536 completions")
    assert "16 x 1 x 6 = 96 (6 prompts per step)" in msg
    assert "e.g. gradient_accumulation_steps 96" in msg
    # The other reading of the paper, spelled out: 96 prompts on 8 GPUs.
    other = parse_job_config(
        config(prompts_per_step=96, per_device_train_batch_size=12, num_processes=8,
               gradient_accumulation_steps=16)
    )  # fmt: skip
    assert other.prompts_per_step * other.num_generations == 1536


def test_odd_judge_values_get_a_clear_message_without_the_nul() -> None:
    found = problems(config(judge={**JUDGE, "mode": "ex\x00plicit"}))
    assert found["judge"] == (
        "mode 'ex\ufffdplicit' is not one of explicit, implicit, likert, reference_likert"
    )
    found = problems(config(judge={**JUDGE, "aggregation": ["points"]}))
    assert found["judge"].startswith("aggregation '['points']' is not one of points")
    found = problems(config(judge={**JUDGE, "preset": "points", "mode": "\x00"}))
    assert found["judge"].startswith("preset points contradicts mode \ufffd:")
