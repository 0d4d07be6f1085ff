"""What a trainer worker agrees to run: which base models, and where outputs go.

A job config names a model; it never gives a path. The worker loads only the
models its operator allowed (`--model` options or RUBRICFORGE_MODELS): a hub id
(`Qwen/Qwen2.5-7B`, loaded as is) or a local folder under a name
(`qwen7b=/models/Qwen2.5-7B`, the config says `qwen7b`). Outputs always go under
the worker's own runs folder (`--runs-dir`, RUBRICFORGE_RUNS_DIR, default
RUBRICFORGE_HOME/runs): `<job id>` or `<job id>-<run_name>`.

The same check runs at submit (when the app has RUBRICFORGE_MODELS set) and when
a worker claims the job (`refusal`, from the queue's claim): a job that fails it is marked failed
with the reason, and the worker goes on to the next job.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rubricforge.models.core.errors import RubricforgeError
from rubricforge.models.core.settings import Settings
from rubricforge.models.training.config import JobConfig, JobConfigError, parse_job_config

MODELS_ENV = "RUBRICFORGE_MODELS"
RUNS_DIR_ENV = "RUBRICFORGE_RUNS_DIR"


def parse_model_entries(entries: Iterable[str]) -> dict[str, str]:
    """`hub/id` or `name=/local/folder` entries (commas also separate) -> name: source."""
    models: dict[str, str] = {}
    for raw in entries:
        for entry in (e.strip() for e in raw.split(",")):
            if not entry:
                continue
            name, sep, folder = entry.partition("=")
            name = name.strip()
            if not sep:
                models[name] = name
                continue
            path = Path(folder.strip()).expanduser()
            if not name or not path.is_absolute():
                raise RubricforgeError(
                    f"model entry '{entry}': write a local model as NAME=/absolute/folder"
                )
            models[name] = str(path)
    return models


@dataclass(frozen=True)
class WorkerPolicy:
    runs_dir: Path
    models: Mapping[str, str] = field(default_factory=dict)  # name in a config -> what to load

    @classmethod
    def from_env(
        cls, *, models: Iterable[str] = (), runs_dir: Path | str | None = None
    ) -> WorkerPolicy:
        """The environment's allowlist plus `models` (the worker's --model options)."""
        env_runs = os.environ.get(RUNS_DIR_ENV)
        root = runs_dir or env_runs or Settings.from_env().home / "runs"
        return cls(
            runs_dir=Path(root).expanduser().resolve(),
            models=parse_model_entries([os.environ.get(MODELS_ENV, ""), *models]),
        )

    def model_source(self, name: str) -> str:
        """The hub id or local folder to load for a config's model name."""
        source = self.models.get(name)
        if source is None:
            allowed = ", ".join(sorted(self.models)) or f"none (set {MODELS_ENV} or --model)"
            raise JobConfigError(
                [
                    (
                        "model_name_or_path",
                        f"'{name}' is not a model this worker runs; allowed: {allowed}",
                    )
                ]
            )
        return source

    def output_dir(self, job_id: int, cfg: JobConfig) -> Path:
        leaf = f"{job_id}-{cfg.run_name}" if cfg.run_name else str(job_id)
        return self.runs_dir / leaf

    def check(self, config: Any) -> JobConfig:
        """The config as this worker would run it; JobConfigError says why not."""
        cfg = parse_job_config(config)
        self.model_source(cfg.model_name_or_path)
        return cfg

    def refusal(self, config: Any) -> str | None:
        """Why this worker will not run a claimed job's config, or None. Any error reading
        it is a refusal: one bad job must not stop a worker serving the others."""
        try:
            self.check(config)
        except JobConfigError as exc:
            return "; ".join(f"{where}: {what}" for where, what in exc.problems)
        except Exception as exc:  # noqa: BLE001  (unreadable: refuse it, never crash the claim)
            return f"cannot read the job config: {type(exc).__name__}: {exc}"
        return None


def check_at_submit(cfg: JobConfig) -> None:
    """Where the app knows the workers' allowlist (RUBRICFORGE_MODELS set for it too),
    refuse a model no worker runs before it is queued."""
    if os.environ.get(MODELS_ENV, "").strip():
        WorkerPolicy.from_env().model_source(cfg.model_name_or_path)
