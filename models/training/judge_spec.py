"""The judge of a training job (`JobConfig.judge`): which endpoint and model, and
the reward preset that turns its answers into GRPO's reward.

`preset` names the reward (models/judging/rewards.py PRESETS; README "Reward
presets"). Configs written before presets said it with `mode` and `aggregation`;
they still load, mapped to the preset they meant (`legacy_preset`), and are stored
as that preset. Giving `mode` or `aggregation` beside a `preset` they contradict,
or a combination that contradicts itself, is refused with a message that says
which preset to choose. The trainer's reward and the reward preview both build
their judge here (`judge_config`), so the preview scores exactly as training does.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from rubricforge.models.core.text_safety import clean_text
from rubricforge.models.judging.judge import JudgeConfig
from rubricforge.models.judging.orm import JudgeMode
from rubricforge.models.judging.prompts import PREDEFINED_RUBRIC, PREDEFINED_VERSION
from rubricforge.models.judging.rewards import (
    PRESETS,
    Aggregation,
    Preset,
    RewardPreset,
    legacy_preset,
)
from rubricforge.models.llm.config import DEFAULT_API_KEY_ENV, EndpointConfig
from rubricforge.models.training import reward_extras as extras


class JudgeSpec(BaseModel):
    """Which judge scores the completions, and how its answers become a reward."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    base_url: str = Field(
        description="Base URL of the OpenAI-compatible judge endpoint, e.g. http://localhost:8000/v1."
    )
    model: str = Field(description="Judge model name as the endpoint knows it (RaR: gpt-4o-mini).")
    api_key_env: str | None = Field(
        default=DEFAULT_API_KEY_ENV,
        description="NAME of the environment variable holding the API key on the worker "
        "(the key itself is never stored); 'none' for an endpoint without a key.",
    )
    preset: RewardPreset = Field(
        default=RewardPreset.implicit,
        description="The reward: rar_explicit_categories (RaR Eq. 1, the paper's category "
        "weights), rar_explicit_weights (Eq. 1, the rubric's weights), points (HealthBench), "
        "implicit (one 1-10 rating from the whole rubric; best in RaR), direct_likert and "
        "reference_likert (baselines without the rubric), predefined (one generic rubric for "
        "every prompt). Older configs' mode/aggregation are read as the preset they meant.",
    )
    per_criterion: bool = Field(
        default=False,
        description="Presets with per-criterion verdicts: one judge call per criterion "
        "instead of one per rubric.",
    )
    category_sample: int = Field(
        default=8,
        ge=0,
        le=4096,
        description="Presets without verdicts on the prompt's criteria (implicit, the Likert "
        "baselines, predefined): completions per step also judged explicitly against their "
        "rubric, for the per-category pass rates only (0: none). The reward is untouched.",
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
    self_critique: bool = Field(default=False, description=extras.SELF_CRITIQUE_HELP)

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        """mode/aggregation (configs from before presets) -> preset."""
        if not isinstance(data, dict) or not {"mode", "aggregation"} & data.keys():
            return data
        data = dict(data)
        mode, aggregation = data.pop("mode", None), data.pop("aggregation", None)
        if "preset" not in data:
            data["preset"] = legacy_preset(mode, aggregation).value
            return data
        try:
            rule = PRESETS[RewardPreset(data["preset"])]
        except (ValueError, TypeError):
            return data  # the field's own check names the valid presets
        if (mode is not None and mode != rule.mode.value) or (
            aggregation is not None and aggregation != rule.aggregation.value
        ):
            given = ", ".join(
                f"{k} {clean_text(str(v)[:60])[0]}"
                for k, v in (("mode", mode), ("aggregation", aggregation))
                if v is not None
            )
            raise ValueError(
                f"preset {data['preset']} contradicts {given}: preset {data['preset']} is "
                f"mode {rule.mode.value} with aggregation {rule.aggregation.value}. Give the "
                "preset alone (mode and aggregation are the older way to say it)"
            )
        return data

    @model_validator(mode="after")
    def _per_criterion(self) -> JudgeSpec:
        if self.per_criterion and not self.rule.verdicts:
            raise ValueError(
                f"per_criterion needs per-criterion verdicts, but preset {self.preset.value} "
                "asks for one 1-10 rating; drop per_criterion or choose an explicit preset"
            )
        return self

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

    @property
    def rule(self) -> Preset:
        return PRESETS[self.preset]

    @property
    def mode(self) -> JudgeMode:
        """The judge call the preset makes."""
        return self.rule.mode

    @property
    def aggregation(self) -> Aggregation:
        return self.rule.aggregation

    def endpoint(self) -> EndpointConfig:
        return EndpointConfig(
            base_url=self.base_url,
            model=self.model,
            api_key_env=self.api_key_env,
            timeout=self.timeout,
            max_retries=self.max_retries,
        )

    def judge_config(self, endpoint: EndpointConfig | None = None) -> JudgeConfig:
        """The reward's judge, for the trainer and the preview alike."""
        return JudgeConfig.for_preset(
            endpoint or self.endpoint(),
            self.preset,
            per_criterion=self.per_criterion,
            concurrency=self.concurrency,
        )

    def sample_judge_config(self, endpoint: EndpointConfig | None = None) -> JudgeConfig | None:
        """The explicit judge of the per-category sample, for presets whose reward has
        no verdicts on the prompt's criteria (None when the reward's own verdicts
        give the rates, or category_sample is 0)."""
        if self.rule.judges_prompt_criteria or not self.category_sample:
            return None
        return JudgeConfig.for_preset(
            endpoint or self.endpoint(),
            RewardPreset.rar_explicit_weights,
            concurrency=self.concurrency,
        )

    def provenance(self) -> dict[str, Any]:
        """The preset and the weights it scores with, as recorded with a job."""
        rule = self.rule
        weights: dict[str, Any]
        if rule.category_map is not None:
            weights = {
                "source": "category map (size), rubric weight sign (polarity)",
                "map": {c.value: w for c, w in rule.category_map.items()},
            }
        elif rule.rubric == "none":
            weights = {"source": "none: one 1-10 rating, reward (rating - 1) / 9"}
        elif rule.rubric == "predefined":
            weights = {
                "source": f"the predefined rubric's own weights ({PREDEFINED_VERSION})",
                "criteria": [c.canonical() for c in PREDEFINED_RUBRIC],
            }
        else:
            weights = {
                "source": "rubric"
                if rule.verdicts
                else "none: one 1-10 rating from the whole rubric, reward (rating - 1) / 9"
            }
        return {"preset": self.preset.value, "summary": rule.summary, "weights": weights}
