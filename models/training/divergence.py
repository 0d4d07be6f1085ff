"""The rubric-free drift monitor: its job settings and the divergence rule.

Every `monitor.every_steps` steps the worker scores `monitor.sample_size` of the
step's completions twice: with the rubric reward (what the policy is trained on)
and with a rubric-free Direct-Likert judge (the job's judge model without the
rubric, or another endpoint). Both means go into the step's metrics under
`RUBRIC_KEY` and `FREE_KEY`, on [0, 1].

A policy that learns what the rubric's judge rewards rather than better answers
shows it as the two curves parting: the rubric reward keeps rising while the
rubric-free score stays flat or falls. `divergence` puts that into numbers:
over the last `window` monitored steps it fits a straight line to each curve
(scipy.stats.linregress, step on x) and takes the fitted change across the
window (slope x steps spanned). The run is flagged as diverging when

    rubric change  >= min_rise       (default 0.05: five points of reward)
    free change    <= max_free_gain  (default 0.01: flat, within noise, or falling)

with at least `min_points` monitored steps (default 4; window default 6).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from rubricforge.models.llm.config import EndpointConfig
from scipy.stats import linregress

RUBRIC_KEY = "monitor/rubric_reward"  # mean rubric reward of the monitored sample
FREE_KEY = "monitor/rubric_free_score"  # mean rubric-free score of the same sample, [0, 1]
SAMPLES_KEY = "monitor/samples"  # completions the rubric-free judge scored
FAILURES_KEY = "monitor/failures"  # of those, judgments that failed

WINDOW = 6
MIN_POINTS = 4
MIN_RISE = 0.05
MAX_FREE_GAIN = 0.01
_EPS = 1e-9


class MonitorSpec(BaseModel):
    """Rubric-free drift monitor settings (off unless every_steps > 0)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    every_steps: int = Field(
        default=0,
        ge=0,
        le=1_000_000,
        description="Score a sample with the rubric-free judge every N steps; 0 turns it off.",
    )
    sample_size: int = Field(
        default=8,
        ge=1,
        le=1024,
        description="Completions of the step scored (per process; all of them if fewer).",
    )
    mode: Literal["likert", "reference_likert"] = Field(
        default="likert",
        description="likert: a 1-10 rating with neither rubric nor reference; "
        "reference_likert: with the reference answer.",
    )
    base_url: str | None = Field(
        default=None,
        description="Rubric-free judge endpoint; none: the job's judge endpoint. Needed with "
        "judge.self_critique, so that the monitor is not the policy itself.",
    )
    model: str | None = Field(
        default=None, description="Rubric-free judge model; none: the job's judge model."
    )
    api_key_env: str | None = Field(
        default=None,
        description="Variable holding the monitor endpoint's key; none: the job judge's.",
    )

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.strip().startswith(("http://", "https://")):
            raise ValueError(f"'{value}' is not an http(s) URL; use e.g. http://localhost:8000/v1")
        return value.strip()

    @field_validator("model")
    @classmethod
    def _model(cls, value: str | None) -> str | None:
        return value.strip() if value and value.strip() else None

    @field_validator("api_key_env")
    @classmethod
    def _key_env(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() == "none":
            return value and "none"
        try:  # the endpoint's own rule: a variable name, never a pasted key
            return EndpointConfig(base_url="http://x", model="m", api_key_env=value).api_key_env
        except ValidationError as exc:
            raise ValueError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None

    @property
    def enabled(self) -> bool:
        return self.every_steps > 0

    def period(self, step: int) -> int:
        """Which monitoring period optimizer step `step` (1-based) is in: 0 before the
        first monitored step, k from step k x every_steps on (always 0 when off). The
        worker scores the first generation of each new period, so a run that generates
        only every few steps (num_iterations > 1) is still monitored."""
        return step // self.every_steps if self.enabled else 0


@dataclass(frozen=True)
class DivergenceCheck:
    diverging: bool
    points: int  # monitored steps the fit used
    rubric_change: float | None  # fitted change over the window; None: too few points
    free_change: float | None
    message: str


def monitor_points(
    metrics: Sequence[tuple[int, dict[str, Any]]],
) -> list[tuple[int, float, float]]:
    """(step, rubric reward, rubric-free score) of every logged step that has both."""
    out = []
    for step, values in metrics:
        rubric, free = values.get(RUBRIC_KEY), values.get(FREE_KEY)
        if isinstance(rubric, int | float) and isinstance(free, int | float):
            out.append((step, float(rubric), float(free)))
    return out


def divergence(
    points: Sequence[tuple[int, float, float]],
    *,
    window: int = WINDOW,
    min_points: int = MIN_POINTS,
    min_rise: float = MIN_RISE,
    max_free_gain: float = MAX_FREE_GAIN,
) -> DivergenceCheck:
    """Whether the rubric reward rises while the rubric-free score does not, over the
    last `window` points (see the module's doc for the rule)."""
    last = sorted(points)[-window:]
    if len(last) < max(min_points, 2) or last[0][0] == last[-1][0]:
        return DivergenceCheck(
            False,
            len(last),
            None,
            None,
            f"Not enough monitored steps yet: {len(last)} of the {max(min_points, 2)} "
            "the trend needs.",
        )
    steps = [p[0] for p in last]
    span = steps[-1] - steps[0]
    rubric_change = float(linregress(steps, [p[1] for p in last]).slope) * span
    free_change = float(linregress(steps, [p[2] for p in last]).slope) * span
    # Inclusive thresholds, with room for the float error of the fit.
    diverging = rubric_change >= min_rise - _EPS and free_change <= max_free_gain + _EPS
    trend = (
        f"over steps {steps[0]}-{steps[-1]} the rubric reward changed by {rubric_change:+.3f} "
        f"and the rubric-free score by {free_change:+.3f}"
    )
    if diverging:
        message = (
            f"Diverging: {trend}. The policy may be learning what the rubric judge rewards "
            "rather than better answers; read its latest completions."
        )
    else:
        message = f"No divergence: {trend}."
    return DivergenceCheck(diverging, len(last), rubric_change, free_change, message)
