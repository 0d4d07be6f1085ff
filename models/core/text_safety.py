"""Text that PostgreSQL cannot store: the NUL character.

A `text` value may not hold U+0000, and `jsonb` refuses the `\\u0000` escape, so
one NUL in a model's reply or an import file used to kill a whole import, judge
run or draft run. Each boundary where outside text comes in (import rows, LLM
replies, response files) replaces it with U+FFFD, the replacement character,
and records that it did (a criterion flag, a count in the report); see
`clean_text` and `scrub`.

`install_safety_net` is the last line behind them: psycopg dumpers for `str`
and JSON that replace what a boundary missed, so a path nobody sanitised
stores U+FFFD instead of crashing. It records nothing, which is why the
boundaries still sanitise explicitly.
"""

from __future__ import annotations

import json
import re
from typing import Any

NUL = "\x00"
REPLACEMENT = "\ufffd"
# Flag on a criterion whose text had NUL characters replaced.
NUL_REPLACED_FLAG = "text:nul_replaced"
# `\u0000` in JSON text, not preceded by an escaping backslash.
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def clean_text(text: str) -> tuple[str, bool]:
    """(text with every NUL replaced by U+FFFD, whether there was one)."""
    if NUL not in text:
        return text, False
    return text.replace(NUL, REPLACEMENT), True


def scrub(value: Any) -> tuple[Any, int]:
    """A JSON-like value (dicts, lists, strings; keys too) with NULs replaced, and
    how many strings had one. Returns the value itself when there was none."""
    if isinstance(value, str):
        cleaned, changed = clean_text(value)
        return cleaned, int(changed)
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        count = 0
        for k, v in value.items():
            k2, n1 = scrub(k)
            v2, n2 = scrub(v)
            out[k2] = v2
            count += n1 + n2
        return (out, count) if count else (value, 0)
    if isinstance(value, list | tuple):
        items = [scrub(v) for v in value]
        count = sum(n for _, n in items)
        if not count:
            return value, 0
        cleaned_items = [v for v, _ in items]
        return (cleaned_items if isinstance(value, list) else tuple(cleaned_items)), count
    return value, 0


def safe_json_dumps(obj: Any) -> str:
    """json.dumps whose output jsonb accepts: an escaped NUL becomes U+FFFD."""
    text = json.dumps(obj)
    if "\\u0000" not in text:
        return text
    return _JSON_NUL.sub(lambda m: m.group(1) + "\\ufffd", text)


_installed = False


def install_safety_net() -> None:
    """Register NUL-replacing dumpers for `str` (every text oid, text and binary
    format, COPY included) and the JSON dumps on psycopg's global adapters, so
    every connection made afterwards uses them. Idempotent."""
    global _installed
    if _installed:
        return
    import psycopg
    from psycopg.types import string
    from psycopg.types.json import set_json_dumps

    # Registered in psycopg's own order: the last one is the default per format.
    for base in (
        string.StrBinaryDumperName,
        string.StrBinaryDumperVarchar,
        string.StrBinaryDumper,
        string.StrDumperName,
        string.StrDumperVarchar,
        string.StrDumper,
        string.StrDumperUnknown,
    ):
        psycopg.adapters.register_dumper(str, _nul_safe(base))
    set_json_dumps(safe_json_dumps)
    _installed = True


def _nul_safe(base: type) -> type:
    def dump(self: Any, obj: str) -> Any:
        if NUL in obj:
            obj = obj.replace(NUL, REPLACEMENT)
        return base.dump(self, obj)  # type: ignore[attr-defined]

    return type(f"NulSafe{base.__name__}", (base,), {"dump": dump})
