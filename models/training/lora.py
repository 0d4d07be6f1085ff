"""The `lora` section of a job config: train low-rank adapters instead of every weight.

Off by default (no section). When present the worker passes it to TRL's
GRPOTrainer as a `peft.LoraConfig` (trainer/config.py) and saves only the adapter
(`adapter_config.json`, `adapter_model.safetensors`) in the run's folder. Plain
numbers and module names only: nothing here loads files or code.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

ALL_LINEAR = "all-linear"
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class LoraSpec(BaseModel):
    """LoRA settings (peft.LoraConfig), each range-checked."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    r: int = Field(default=16, ge=1, le=1024, description="Rank of the adapter matrices.")
    alpha: int = Field(
        default=32,
        ge=1,
        le=4096,
        description="Scaling numerator (peft lora_alpha): updates are scaled by alpha / r.",
    )
    dropout: float = Field(
        default=0.05, ge=0, lt=1, description="Dropout on the adapter's input (lora_dropout)."
    )
    target_modules: str | list[str] = Field(
        default=ALL_LINEAR,
        description="Module names to adapt, e.g. [q_proj, k_proj, v_proj, o_proj], or "
        "all-linear (every linear layer but the output head).",
    )

    @field_validator("target_modules")
    @classmethod
    def _modules(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, str):
            if value != ALL_LINEAR:
                raise ValueError(
                    f"'{value}' is neither a list of module names (e.g. [q_proj, v_proj]) "
                    f"nor {ALL_LINEAR}"
                )
            return value
        if not 1 <= len(value) <= 64:
            raise ValueError("name 1 to 64 modules, e.g. [q_proj, v_proj], or use all-linear")
        bad = [m for m in value if not _MODULE.fullmatch(m)]
        if bad:
            raise ValueError(
                f"{', '.join(map(repr, bad))} is not a module name: letters, digits and '_', "
                "starting with a letter or '_' (e.g. q_proj)"
            )
        return list(dict.fromkeys(value))
