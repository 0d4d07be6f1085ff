"""Text on its way into PostgreSQL: a NUL character (U+0000) is refused by both
`text` columns and JSONB, so one in a model's output would fail the whole write
(a training step's metrics, a job's error). It is replaced with U+FFFD, the
Unicode replacement character, wherever it appears: values and keys, at any depth.
"""

from __future__ import annotations

from typing import Any

NUL = "\x00"
REPLACEMENT = "\ufffd"


def clean_text(text: str) -> str:
    return text.replace(NUL, REPLACEMENT) if NUL in text else text


def clean_json(value: Any) -> Any:
    """`value` (JSON-like: dicts, lists, strings, numbers) with every NUL replaced."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_json(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    return value


def has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False
