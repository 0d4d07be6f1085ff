"""A job config as the CLI reads it: a JSON or YAML file, then KEY=VALUE
overrides. Validation is `models.training.config.parse_job_config`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from rubricforge.models.training.config import JobConfigError


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
