"""The extras: DeepSpeed and vLLM only in `scale`, the trainer's floors met by what
the tests run on, and torch's range kept to the CPU build CI installs (2.13.0)."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

EXTRAS = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())[
    "project"
]["optional-dependencies"]


def names(extra: str) -> dict[str, Requirement]:
    return {(r := Requirement(line)).name: r for line in EXTRAS[extra]}


def test_deepspeed_and_vllm_are_in_scale_only() -> None:
    assert set(names("scale")) == {"deepspeed", "vllm"}
    for extra in ("dev", "trainer"):
        assert not {"deepspeed", "vllm"} & set(names(extra)), extra


def test_torch_stays_satisfiable_by_the_ci_build() -> None:
    assert names("trainer")["torch"].specifier.contains("2.13.0")


def test_the_installed_trainer_stack_meets_the_floors() -> None:
    for name, req in names("trainer").items():
        installed = importlib.metadata.version(name)
        assert req.specifier.contains(installed, prereleases=True), (name, installed, req)
    assert "peft" in names("trainer")
