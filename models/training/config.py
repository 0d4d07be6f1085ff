"""The configuration of a GRPO training job, validated before the job is queued.

A pydantic model, so the app and the CLI can check a config without importing
torch; `trainer.config` turns it into TRL's `GRPOConfig` on the worker. Every
field carries a help string, TRL-style. Defaults follow RaR's GRPO recipe
(Gunjal et al. 2025, SPEC.md section 2) where the paper states a value, TRL's
defaults otherwise:

    RaR: Qwen2.5-7B, 16 rollouts per prompt, effective batch 96, learning rate
    5e-6 (constant, 10% warm-up), temperature 1.0, max length 3584, 300 steps on
    8xH100, judge gpt-4o-mini.

The defaults give RaR's effective batch on one process (16 x 6 accumulation steps
= 96 completions = 6 prompts x 16 rollouts); on 8 GPUs use
per_device_train_batch_size=12, gradient_accumulation_steps=1, num_processes=8.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from rubricforge.models.core.errors import RubricforgeError
from rubricforge.models.judging.orm import JudgeMode
from rubricforge.models.judging.rewards import Aggregation
from rubricforge.models.llm.client import DEFAULT_API_KEY_ENV, EndpointConfig

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


class JudgeSpec(BaseModel):
    """Which judge scores the completions, and how its verdicts become a reward."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(
        description="Base URL of the OpenAI-compatible judge endpoint, e.g. http://localhost:8000/v1."
    )
    model: str = Field(description="Judge model name as the endpoint knows it (RaR: gpt-4o-mini).")
    api_key_env: str | None = Field(
        default=DEFAULT_API_KEY_ENV,
        description="NAME of the environment variable holding the API key on the worker "
        "(the key itself is never stored); 'none' for an endpoint without a key.",
    )
    mode: JudgeMode = Field(
        default=JudgeMode.implicit,
        description="explicit: one met/not-met verdict per criterion, aggregated; implicit: one "
        "1-10 rating from the whole rubric (best in RaR); likert / reference_likert: baselines "
        "without the rubric.",
    )
    aggregation: Aggregation = Field(
        default=Aggregation.rar_explicit,
        description="How explicit verdicts become a reward: rar_explicit (RaR Eq. 1) or points "
        "(HealthBench). Ignored by the rating modes.",
    )
    per_criterion: bool = Field(
        default=False,
        description="explicit mode: one judge call per criterion instead of one per rubric.",
    )
    concurrency: int = Field(
        default=64,
        ge=1,
        le=1024,
        description="Judge requests in flight at once. One step judges per_device_train_batch_size"
        " x num_processes x gradient_accumulation_steps completions (96 by default).",
    )
    timeout: float = Field(
        default=120.0,
        gt=0,
        le=3600,
        description="Seconds before one judge request is given up (then retried).",
    )
    max_retries: int = Field(
        default=5,
        ge=0,
        le=20,
        description="Retries of one judge request after 429/5xx/timeouts, with backoff, before "
        "the completion gets the fallback reward.",
    )
    fallback_reward: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Reward given to a completion whose judgment still fails after retries. "
        "Such completions are counted and reported as judge/failures.",
    )
    max_failure_rate: float = Field(
        default=0.25,
        ge=0.0,
        le=1.0,
        description="Stop the run with an error when more than this share of one step's "
        "judgments fail, so the policy never trains mostly on fallback rewards.",
    )

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"'{value}' is not an http(s) URL; use e.g. http://localhost:8000/v1")
        return value

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name the judge model, e.g. gpt-4o-mini")
        return value.strip()

    @field_validator("api_key_env")
    @classmethod
    def _key_env(cls, value: str | None) -> str | None:
        # The endpoint's own rule (a variable name, never a pasted key).
        try:
            return EndpointConfig(base_url="http://x", model="m", api_key_env=value).api_key_env
        except ValidationError as exc:
            raise ValueError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None

    def endpoint(self) -> EndpointConfig:
        return EndpointConfig(
            base_url=self.base_url,
            model=self.model,
            api_key_env=self.api_key_env,
            timeout=self.timeout,
            max_retries=self.max_retries,
        )


class JobConfig(BaseModel):
    """One GRPO run: base model, GRPO settings, judge, output. Unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")

    model_name_or_path: str = Field(
        description="Base policy: a local folder on the worker or a Hugging Face hub name "
        "(RaR: Qwen/Qwen2.5-7B)."
    )
    judge: JudgeSpec = Field(description="The judge whose verdicts are the reward.")
    output_dir: str | None = Field(
        default=None,
        description="Where the trained model and checkpoints go; default "
        "RUBRICFORGE_HOME/runs/<job id> on the worker.",
    )
    num_generations: int = Field(
        default=16, ge=2, description="Completions sampled per prompt (RaR: 16 rollouts)."
    )
    per_device_train_batch_size: int = Field(
        default=16, ge=1, description="Completions per device per forward/backward pass."
    )
    gradient_accumulation_steps: int = Field(
        default=6, ge=1, description="Passes accumulated per optimizer step."
    )
    num_processes: int = Field(
        default=1,
        ge=1,
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
        description="KL coefficient. 0 (TRL's default) loads no reference model and logs no KL; "
        "0.001 adds a KL penalty as in DeepSeek-R1.",
    )
    max_steps: int = Field(default=300, ge=1, description="Optimizer steps (RaR: 300).")
    max_completion_length: int = Field(
        default=3584, ge=1, description="Longest completion in tokens (RaR: 3584)."
    )
    temperature: float = Field(default=1.0, gt=0, description="Sampling temperature (RaR: 1.0).")
    loss_type: LossType = Field(
        default="dapo",
        description="TRL loss normalisation: dapo (TRL's default, no length bias), grpo, "
        "dr_grpo, bnpo, cispo, sapo, luspo, vespo.",
    )
    logging_steps: int = Field(default=1, ge=1, description="Write metrics every N steps.")
    save_steps: int | None = Field(
        default=None,
        ge=1,
        description="Checkpoint every N steps so a re-claimed job resumes; None saves only "
        "the final model (and a checkpoint when the worker is stopped by SIGTERM).",
    )
    seed: int = Field(default=42, description="Random seed.")
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
    trl_args: dict[str, Any] = Field(
        default_factory=dict,
        description="Any other trl.GRPOConfig argument, passed through as is (checked by TRL "
        "when the worker starts the run).",
    )

    @field_validator("model_name_or_path")
    @classmethod
    def _base_model(cls, value: str) -> str:
        if not value.strip():
            raise ValueError(
                "name the base model: a local folder or a hub name such as Qwen/Qwen2.5-7B"
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
        return value

    @model_validator(mode="after")
    def _batch_arithmetic(self) -> JobConfig:
        # TRL puts all num_generations completions of a prompt in one generation batch of
        # per_device_train_batch_size x num_processes x gradient_accumulation_steps.
        generation_batch = (
            self.per_device_train_batch_size * self.num_processes * self.gradient_accumulation_steps
        )
        if generation_batch % self.num_generations:
            raise ValueError(
                f"per_device_train_batch_size x num_processes x gradient_accumulation_steps = "
                f"{self.per_device_train_batch_size} x {self.num_processes} x "
                f"{self.gradient_accumulation_steps} = {generation_batch} must be divisible by "
                f"num_generations ({self.num_generations}): TRL keeps every prompt's completions "
                f"in one batch. E.g. set per_device_train_batch_size to {self.num_generations}."
            )
        if self.use_vllm and self.vllm_mode == "server" and not self.vllm_server_base_url:
            raise ValueError(
                "vllm_mode 'server' needs vllm_server_base_url (the trl vllm-serve URL)"
            )
        return self

    @property
    def prompts_per_step(self) -> int:
        """Distinct prompts per optimizer step."""
        total = self.per_device_train_batch_size * self.num_processes
        return total * self.gradient_accumulation_steps // self.num_generations


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
    try:
        return JobConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "config"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown setting; check the spelling (see `rubricforge train submit --help`)"
            elif err["type"] == "missing":
                msg = "required: " + _field_help(err["loc"])
            problems.append((loc, msg))
        raise JobConfigError(problems) from None


def _field_help(loc: tuple[int | str, ...]) -> str:
    model: type[BaseModel] = JobConfig
    for part in loc[:-1]:
        annotation = model.model_fields[str(part)].annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
    info = model.model_fields.get(str(loc[-1]))
    return (info.description or "") if info else ""


def load_config_file(path: Path) -> dict[str, Any]:
    """A job config from a .json, .yaml or .yml file."""
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise JobConfigError([(str(path), f"cannot read the file: {exc.strerror}")]) from None
    try:
        data = yaml.safe_load(raw) if path.suffix.lower() in (".yaml", ".yml") else json.loads(raw)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise JobConfigError([(str(path), f"not valid {path.suffix[1:].upper()}: {exc}")]) from None
    except RecursionError:
        raise JobConfigError([(str(path), "nested too deeply to be a job config")]) from None
    if not isinstance(data, dict):
        raise JobConfigError([(str(path), "must hold a mapping of settings")])
    return data


def apply_overrides(data: dict[str, Any], assignments: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` settings on top of a config; dotted keys reach nested ones
    (judge.model=gpt-4o-mini). VALUE is read as JSON when it parses (3, 1e-6,
    true, null), as a string otherwise."""
    out = json.loads(json.dumps(data))  # a deep copy; the caller's dict stays as it was
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        if not sep or not key.strip():
            raise JobConfigError([(assignment, "write settings as KEY=VALUE, e.g. max_steps=300")])
        try:
            parsed: Any = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        *parents, leaf = key.strip().split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise JobConfigError([(key, f"'{part}' is not a group of settings")])
        node[leaf] = parsed
    return out
