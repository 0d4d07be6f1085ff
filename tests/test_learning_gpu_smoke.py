"""bench/gpu_smoke.sh --cpu-tiny: the GPU smoke run's whole path (wheels check, embedded
database, scripted judge, `rubricforge worker --once`, figures) on the CPU."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.db, pytest.mark.slow]
REPO = Path(__file__).resolve().parent.parent


def test_the_gpu_smoke_script_runs_a_job_on_the_cpu_and_prints_its_figures() -> None:
    env = {**os.environ, "PYTHON": sys.executable, "HF_HUB_OFFLINE": "1"}
    env.pop("DATABASE_URL", None)  # the script uses a throwaway embedded server
    done = subprocess.run(
        ["bash", str(REPO / "bench/gpu_smoke.sh"), "--cpu-tiny"],
        env=env, capture_output=True, text=True, timeout=280,
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, (out + done.stderr)[-3000:]
    assert re.search(r"^job \d+ succeeded: 3 steps in", out, re.M), out
    step = float(re.search(r"^step time: ([\d.]+) s", out, re.M).group(1))  # type: ignore[union-attr]
    tokens = float(re.search(r"^tokens/s: (\d+)", out, re.M).group(1))  # type: ignore[union-attr]
    share = re.search(r"^reward share of step time: ([\d.]+)% \((within|OVER) the 10% target\)",
                      out, re.M)  # fmt: skip
    assert share is not None, out
    assert step > 0 and tokens > 0
    assert 0 < float(share.group(1)) < 100
    # Whether the share is within the 10% target is a figure for a GPU run, not a test
    # assertion: on a busy CPU machine the tiny model's steps are too short to say.


def test_the_gpu_smoke_script_refuses_an_unknown_option() -> None:
    done = subprocess.run(
        ["bash", str(REPO / "bench/gpu_smoke.sh"), "--gpus", "8"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 2
    assert "unknown option: --gpus" in done.stderr
