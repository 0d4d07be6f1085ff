"""Model families: which model names are "the same model" for the self-preference check.

A judge tends to pass its own family's failed answers (the responses a sibling of
the same model wrote), so the check compares a judge's errors on its own family's
responses with its errors on everyone else's. A family is the model name without
its organisation, date, size and packaging suffixes:

- "gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06", "openai/gpt-4o" -> "gpt-4o"
- "Qwen/Qwen2.5-7B-Instruct", "qwen2.5-72b-instruct-awq" -> "qwen2.5"
- "meta-llama/Llama-3.1-8B-Instruct" -> "llama-3.1"
- "claude-3-5-sonnet-20241022" -> "claude-3-5-sonnet"; "o3-mini" -> "o3"

Names that say nothing of a model ("", "unknown", "human", "reference") have no
family (None) and take no part in the check.
"""

from __future__ import annotations

import re

NOT_A_MODEL = frozenset({"", "unknown", "human", "reference", "expert", "none"})

# Trailing name parts that tell sizes, dates, tunes and packaging apart, not models.
_SUFFIX = re.compile(
    r"""[-_:.](
        \d{4}-?\d{2}-?\d{2} | \d{3,4} | \d{6,8}            # dates and snapshot numbers
      | \d+(\.\d+)?[bm] | \d+x\d+b | a\d+(\.\d+)?b            # sizes: 7b, 0.5b, 8x7b, a3b
      | mini | nano | small | medium | large | turbo | preview | latest | lite | flash
      | instruct | it | chat | base | hf | awq | gptq | gguf | fp8 | fp16 | bf16 | int4 | int8
      | v\d+\.\d+                                         # a release of a model: v0.1
    )$""",
    re.IGNORECASE | re.VERBOSE,
)


def model_family(name: str | None) -> str | None:
    """The family of a model name (lower case), or None for a name that is no model."""
    base = (name or "").strip().lower()
    base = base.rsplit("/", 1)[-1]  # organisation or provider prefix
    if base in NOT_A_MODEL or base.startswith("degraded:"):
        return None
    while True:
        shorter = _SUFFIX.sub("", base)
        if shorter == base or not shorter:
            break
        base = shorter
    return base or None


def same_family(a: str | None, b: str | None) -> bool:
    """Both names are models of one family."""
    fa, fb = model_family(a), model_family(b)
    return fa is not None and fa == fb
