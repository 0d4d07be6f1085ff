"""The configuration of a GRPO training job, validated before the job is queued.

A pydantic model, so the app and the CLI can check a config without importing
torch; `trainer.config` turns it into TRL's `GRPOConfig` on the worker. Every
field carries a help string, TRL-style. Defaults follow RaR's GRPO recipe
(Gunjal et al. 2025, arXiv 2507.17746) where the paper states a value, TRL's
defaults otherwise:

    RaR: Qwen2.5-7B, 16 rollouts per prompt, effective batch 96, learning rate
    5e-6 (constant, 10% warm-up), temperature 1.0, max length 3584, 300 steps on
    8xH100, judge gpt-4o-mini.

Batch semantics. One optimizer step trains on prompts_per_step x num_generations
completions (generations per prompt), which TRL counts as per_device_train_batch_size
x num_processes x gradient_accumulation_steps; `prompts_per_step` is derived from
those, or, when given, checked against them.

Which "batch 96"? The paper gives an effective batch of 96 and 16 rollouts per
prompt without saying whether 96 counts prompts or completions. We read it as 96
COMPLETIONS = 6 prompts x 16 rollouts per step, because an effective batch in TRL
(and in most GRPO write-ups of that time) counts completions, and 96 is exactly 12
per GPU on the paper's 8 GPUs. The other reading (96 prompts = 1,536 completions per
step; 300 steps would then see 28,800 prompts, about 1.4 passes over a 20k set) is
one setting away: prompts_per_step 96 with a matching batch (e.g. 12 per device x 8
GPUs x 16 accumulation steps). The defaults give our reading on one process (16 x 6
accumulation steps = 96 completions = 6 prompts x 16 rollouts); on 8 GPUs use
per_device_train_batch_size=12, gradient_accumulation_steps=1, num_processes=8.
"""

from __future__ import annotations

import re
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from rubricforge.models.core.errors import RubricforgeError
from rubricforge.models.training import reward_extras as extras
from rubricforge.models.training.divergence import MonitorSpec
from rubricforge.models.training.judge_spec import JudgeSpec
from rubricforge.models.training.lora import LoraSpec
from rubricforge.models.training.trl_args import check_trl_args, forbidden_paths
from rubricforge.models.training.verifiable import MAX_VERIFIABLE, VerifiableReward

MAX_PROCESSES = 4096  # processes (GPUs) one job may span
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")
_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

LossType = Literal["grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo"]
Scheduler = Literal[
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
    "cosine_with_min_lr",
    "warmup_stable_decay",
]


class JobConfigError(RubricforgeError):
    """A training config that cannot run. `problems` lists (field, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        shown = "\n".join(f"  {loc}: {msg}" for loc, msg in problems)
        super().__init__(
            f"the training config has {len(problems)} problem(s); nothing was queued.\n{shown}"
        )


class JobConfig(BaseModel):
    """One GRPO run: base model, GRPO settings, judge, run name. Unknown keys, paths
    and numbers out of range are refused (a worker re-checks at claim)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    model_name_or_path: str = Field(
        max_length=200,
        description="Base policy, by a name the workers allow (models/training/worker_policy.py):"
        " a Hugging Face hub id (RaR: Qwen/Qwen2.5-7B) or the name an admin gave a local folder."
        " Never a path.",
    )
    judge: JudgeSpec = Field(description="The judge whose verdicts are the reward.")
    run_name: str | None = Field(
        default=None,
        description="Optional name of the run's folder: the trained model and checkpoints go to "
        "<worker runs folder>/<job id>-<run_name> (<job id> alone by default). Not a path.",
    )
    num_generations: int = Field(
        default=16,
        ge=2,
        le=1024,
        description="Generations (completions) sampled per prompt: GRPO's group (RaR: 16 "
        "rollouts).",
    )
    prompts_per_step: int | None = Field(
        default=None,
        ge=1,
        le=1_048_576,
        description="Distinct prompts per optimizer step. Derived when left out: "
        "per_device_train_batch_size x num_processes x gradient_accumulation_steps / "
        "num_generations; when given, it must match (RaR default: 6 prompts x 16 = 96 "
        "completions).",
    )
    per_device_train_batch_size: int = Field(
        default=16, ge=1, le=4096, description="Completions per device per forward/backward pass."
    )
    gradient_accumulation_steps: int = Field(
        default=6, ge=1, le=1024, description="Passes accumulated per optimizer step."
    )
    num_processes: int = Field(
        default=1,
        ge=1,
        le=MAX_PROCESSES,
        description="Processes (GPUs) the run uses, as accelerate's num_processes; the batch "
        "arithmetic below is checked with it.",
    )
    learning_rate: float = Field(
        default=5e-6, gt=0, lt=1, description="Peak learning rate (RaR: 5e-6)."
    )
    lr_scheduler_type: Scheduler = Field(
        default="constant_with_warmup", description="transformers scheduler name (RaR: constant)."
    )
    warmup_ratio: float = Field(
        default=0.1, ge=0, lt=1, description="Share of steps for linear warm-up (RaR: 10%)."
    )
    beta: float = Field(
        default=0.0,
        ge=0,
        le=100,
        description="KL coefficient. 0 (TRL's default) loads no reference model and logs no KL; "
        "0.001 adds a KL penalty as in DeepSeek-R1.",
    )
    max_steps: int = Field(
        default=300, ge=1, le=10_000_000, description="Optimizer steps (RaR: 300)."
    )
    max_completion_length: int = Field(
        default=3584, ge=1, le=1_048_576, description="Longest completion in tokens (RaR: 3584)."
    )
    temperature: float = Field(
        default=1.0, gt=0, le=100, description="Sampling temperature (RaR: 1.0)."
    )
    loss_type: LossType = Field(
        default="dapo",
        description="TRL loss normalisation: dapo (TRL's default, no length bias), grpo, "
        "dr_grpo, bnpo, cispo, sapo, luspo, vespo.",
    )
    logging_steps: int = Field(
        default=1, ge=1, le=10_000_000, description="Write metrics every N steps."
    )
    save_steps: int | None = Field(
        default=None,
        ge=1,
        le=10_000_000,
        description="Checkpoint every N steps so a re-claimed job resumes; None saves only "
        "the final model (and a checkpoint when the worker is stopped by SIGTERM).",
    )
    seed: int = Field(default=42, ge=0, le=2**32 - 1, description="Random seed.")
    bf16: bool | None = Field(
        default=None, description="bfloat16 training; None = on when the GPU supports it."
    )
    gradient_checkpointing: bool = Field(
        default=True,
        description="Recompute activations in the backward pass: ~20% slower, much less "
        "memory (TRL's default).",
    )
    use_vllm: bool = Field(
        default=False, description="Generate with vLLM (TRL use_vllm); needs vllm on the worker."
    )
    vllm_mode: Literal["colocate", "server"] = Field(
        default="colocate",
        description="colocate: vLLM shares the training GPUs; server: a separate `trl vllm-serve`.",
    )
    vllm_server_base_url: str | None = Field(
        default=None, description="URL of the `trl vllm-serve` process in server mode."
    )
    max_attempts: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Claims before a job whose workers keep dying is marked failed.",
    )
    lora: LoraSpec | None = Field(
        default=None,
        description="Train LoRA adapters (r, alpha, dropout, target_modules) instead of every "
        "weight; only the adapter is saved. Off when absent (models/training/lora.py).",
    )
    trl_args: dict[str, Any] = Field(
        default_factory=dict,
        description="Other trl.GRPOConfig arguments from an allowlist of plain numbers, flags and "
        "choices (models/training/trl_args.py), each range-checked.",
    )
    monitor: MonitorSpec = Field(default_factory=MonitorSpec, description=extras.MONITOR_HELP)
    verifiable_rewards: list[VerifiableReward] = Field(
        default_factory=list, max_length=MAX_VERIFIABLE, description=extras.VERIFIABLE_HELP
    )
    rubric_weight: float = Field(default=1.0, ge=0, le=100, description=extras.RUBRIC_WEIGHT_HELP)
    _self_critique = model_validator(mode="before")(extras.fill_self_critique)
    _extras = model_validator(mode="after")(extras.check_extras)

    @field_validator("model_name_or_path")
    @classmethod
    def _base_model(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError(
                "name the base model: a hub id such as Qwen/Qwen2.5-7B or the name of a local "
                "model the workers allow"
            )
        if not _MODEL_NAME.fullmatch(value) or ".." in value:
            raise ValueError(
                f"'{value}' is not a model name: give a hub id such as Qwen/Qwen2.5-7B or the "
                "name an admin gave a local model folder; paths are not accepted"
            )
        return value

    @field_validator("run_name")
    @classmethod
    def _run_name(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not _RUN_NAME.fullmatch(value.strip()):
            raise ValueError(
                "a run name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or "
                "digit (e.g. qwen7b-rar); outputs always go under the worker's runs folder"
            )
        return value.strip()

    @field_validator("trl_args")
    @classmethod
    def _trl_args(cls, value: dict[str, Any]) -> dict[str, Any]:
        owned = sorted(set(value) & (set(cls.model_fields) | _MANAGED_BY_WORKER))
        if owned:
            raise ValueError(
                f"{', '.join(owned)} cannot go in trl_args: set them as top-level fields "
                "(or leave them to the worker)"
            )
        problems = check_trl_args(value)
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @model_validator(mode="after")
    def _batch_arithmetic(self) -> JobConfig:
        # TRL puts all num_generations completions of a prompt in one generation batch of
        # per_device_train_batch_size x num_processes x gradient_accumulation_steps.
        per_pass = self.per_device_train_batch_size * self.num_processes
        generation_batch = per_pass * self.gradient_accumulation_steps
        product = (
            f"per_device_train_batch_size x num_processes x gradient_accumulation_steps = "
            f"{self.per_device_train_batch_size} x {self.num_processes} x "
            f"{self.gradient_accumulation_steps} = {generation_batch}"
        )
        if generation_batch % self.num_generations:
            raise ValueError(
                f"{product} must be divisible by num_generations ({self.num_generations}): TRL "
                f"keeps every prompt's completions in one batch. E.g. set "
                f"per_device_train_batch_size to {self.num_generations}."
            )
        derived = generation_batch // self.num_generations
        if self.prompts_per_step is not None and self.prompts_per_step != derived:
            wanted = self.prompts_per_step * self.num_generations
            hint = (
                f"e.g. gradient_accumulation_steps {wanted // per_pass}"
                if wanted % per_pass == 0
                else "e.g. change per_device_train_batch_size"
            )
            raise ValueError(
                f"prompts_per_step x num_generations = {self.prompts_per_step} x "
                f"{self.num_generations} = {wanted} completions per step, but {product} "
                f"({derived} prompts per step): make them agree ({hint}), or leave "
                "prompts_per_step out to derive it"
            )
        self.prompts_per_step = derived
        if self.use_vllm and self.vllm_mode == "server" and not self.vllm_server_base_url:
            raise ValueError(
                "vllm_mode 'server' needs vllm_server_base_url (the trl vllm-serve URL)"
            )
        return self


# GRPOConfig arguments the worker sets itself (device, logging, output).
_MANAGED_BY_WORKER = frozenset(
    {
        "report_to",
        "use_cpu",
        "save_strategy",
        "logging_strategy",
        "steps_per_generation",
        "generation_batch_size",
    }
)


def parse_job_config(data: Any) -> JobConfig:
    """Validate a config dict; raise JobConfigError listing every problem with its field."""
    if not isinstance(data, dict):
        raise JobConfigError(
            [("config", f"must be a mapping of settings, got {type(data).__name__}")]
        )
    remote = list(forbidden_paths(data))
    if remote:
        raise JobConfigError(
            [
                (where, "trust_remote_code is never allowed: a worker runs no code from a model")
                for where in remote
            ]
        )
    try:
        return JobConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "config"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden" and loc == "output_dir":
                msg = (
                    "not a setting: outputs always go under the worker's runs folder; "
                    "name the run with run_name (e.g. run_name: qwen7b-rar)"
                )
            elif err["type"] == "extra_forbidden":
                msg = "unknown setting; check the spelling (see `rubricforge train submit --help`)"
            elif err["type"] == "missing":
                msg = "required: " + _field_help(err["loc"])
            problems.append((loc, msg))
        raise JobConfigError(problems) from None


def _field_help(loc: tuple[int | str, ...]) -> str:
    model: type[BaseModel] = JobConfig
    for part in (p for p in loc[:-1] if not isinstance(p, int)):  # ints: list positions
        annotation = model.model_fields[str(part)].annotation
        annotation = (get_args(annotation) or (annotation,))[0]  # list[X] -> X
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
    info = model.model_fields.get(str(loc[-1]))
    return (info.description or "") if info else ""
