"""The TRL arguments a job config may pass through `trl_args`: an allowlist.

Anything else is refused at submit and again when a worker claims the job.
Arguments that load or run code (`model_init_kwargs`, `generation_kwargs`:
`trust_remote_code`, `custom_generate`, ...), choose files (`output_dir`,
`deepspeed`, `resume_from_checkpoint`), or report to the outside (`report_to`,
`hub_*`) are never on it; only plain numbers, flags and choices, each with its
range. `trust_remote_code` is refused wherever it appears in a config.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

Check = Callable[[Any], str | None]


def _number(low: float, high: float, *, integer: bool = False, low_open: bool = False) -> Check:
    kind = "an integer" if integer else "a number"
    left = "(" if low_open else "["

    def check(value: Any) -> str | None:
        ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok_type or not math.isfinite(value):
            return f"must be {kind} in {left}{low:g}, {high:g}]"
        if value < low or (low_open and value == low) or value > high:
            return f"must be {kind} in {left}{low:g}, {high:g}], got {value:g}"
        return None

    return check


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _choice(*options: Any) -> Check:
    def check(value: Any) -> str | None:
        # By type too: 1 is not True, and "true" is not True.
        if any(type(value) is type(o) and value == o for o in options):
            return None
        return f"must be one of {', '.join(map(str, options))}"

    return check


ALLOWED: dict[str, Check] = {
    "top_p": _number(0, 1, low_open=True),
    "top_k": _number(0, 100_000, integer=True),
    "min_p": _number(0, 1),
    "repetition_penalty": _number(0, 10, low_open=True),
    "epsilon": _number(0, 1, low_open=True),
    "epsilon_high": _number(0, 1, low_open=True),
    "delta": _number(0, 1e6, low_open=True),
    "num_iterations": _number(1, 100, integer=True),
    "scale_rewards": _choice("group", "batch", "none", True, False),
    "mask_truncated_completions": _flag,
    "top_entropy_quantile": _number(0, 1),
    "importance_sampling_level": _choice("token", "sequence"),
    "shuffle_dataset": _flag,
    "disable_dropout": _flag,
    "weight_decay": _number(0, 1),
    "max_grad_norm": _number(0, 1e6),
    "adam_beta1": _number(0, 1),
    "adam_beta2": _number(0, 1),
    "adam_epsilon": _number(0, 1, low_open=True),
}

FORBIDDEN_KEY = "trust_remote_code"


def check_trl_args(args: dict[str, Any]) -> list[str]:
    """Every problem with `args`, in words (empty: fine)."""
    problems = []
    for name, value in sorted(args.items()):
        check = ALLOWED.get(name)
        if check is None:
            problems.append(
                f"{name} is not allowed in trl_args; allowed: {', '.join(sorted(ALLOWED))}"
            )
        elif (msg := check(value)) is not None:
            problems.append(f"{name} {msg}")
    return problems


def forbidden_paths(data: Any, path: str = "") -> Iterator[str]:
    """Where `trust_remote_code` appears as a key, at any depth ("trl_args.model_init_kwargs")."""
    if isinstance(data, dict):
        for key, value in data.items():
            here = f"{path}.{key}" if path else str(key)
            if key == FORBIDDEN_KEY:
                yield here
            yield from forbidden_paths(value, here)
    elif isinstance(data, list):
        for n, value in enumerate(data):
            yield from forbidden_paths(value, f"{path}[{n}]")
