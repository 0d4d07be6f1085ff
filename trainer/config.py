"""A validated job config (models.training.config.JobConfig) as TRL's GRPOConfig.

The worker owns the device, logging and saving arguments: metrics go to Postgres
through our callback (report_to none), checkpoints are saved when the config asks
or when the worker is stopped, so the next claim can resume.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rubricforge.models.training.config import JobConfig, JobConfigError
from rubricforge.models.training.reward_extras import reward_weights
from trl import GRPOConfig


def default_device() -> tuple[bool, bool]:
    """(use_cpu, bf16 supported) for this machine."""
    import torch

    if torch.cuda.is_available():
        return False, torch.cuda.is_bf16_supported()
    return True, False


def grpo_args(cfg: JobConfig, output_dir: Path) -> dict[str, Any]:
    """The GRPOConfig keyword arguments for a job (pure, for tests and docs)."""
    use_cpu, bf16_ok = default_device()
    args: dict[str, Any] = {
        "output_dir": str(output_dir),
        "num_generations": cfg.num_generations,
        "per_device_train_batch_size": cfg.per_device_train_batch_size,
        "gradient_accumulation_steps": cfg.gradient_accumulation_steps,
        "learning_rate": cfg.learning_rate,
        "lr_scheduler_type": cfg.lr_scheduler_type,
        # transformers 5: a float below 1 is the warm-up share of max_steps.
        "warmup_steps": cfg.warmup_ratio,
        "beta": cfg.beta,
        "max_steps": cfg.max_steps,
        "max_completion_length": cfg.max_completion_length,
        "temperature": cfg.temperature,
        "loss_type": cfg.loss_type,
        "logging_strategy": "steps",
        "logging_steps": cfg.logging_steps,
        "save_strategy": "steps" if cfg.save_steps else "no",
        "seed": cfg.seed,
        "bf16": bf16_ok if cfg.bf16 is None else cfg.bf16,
        "gradient_checkpointing": cfg.gradient_checkpointing,
        "use_vllm": cfg.use_vllm,
        "report_to": "none",
        "use_cpu": use_cpu,
        **cfg.trl_args,
    }
    if cfg.save_steps:
        args["save_steps"] = cfg.save_steps
    if cfg.use_vllm:
        args["vllm_mode"] = cfg.vllm_mode
        if cfg.vllm_server_base_url:
            args["vllm_server_base_url"] = cfg.vllm_server_base_url
    weights = reward_weights(cfg)  # the rubric reward's, then each verifiable reward's
    if weights:
        args["reward_weights"] = weights
    return args


def to_grpo_config(cfg: JobConfig, output_dir: Path) -> GRPOConfig:
    """Build the GRPOConfig; TRL's own checks (e.g. on trl_args) become JobConfigError."""
    try:
        return GRPOConfig(**grpo_args(cfg, output_dir))
    except (TypeError, ValueError) as exc:
        raise JobConfigError([("trl", str(exc))]) from None


def peft_config(cfg: JobConfig) -> Any:
    """The job's `lora` section as a peft.LoraConfig for GRPOTrainer, or None (full fine-tuning)."""
    if cfg.lora is None:
        return None
    from peft import LoraConfig, TaskType

    return LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=cfg.lora.target_modules,
    )
