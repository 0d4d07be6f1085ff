"""The GPU smoke run's Python half (bench/gpu_smoke.sh starts it): seed a snapshot,
build a random model, run one GRPO job through `rubricforge worker --once`, print
step time, tokens/s and the reward's share of step time.

    python bench/gpu_smoke.py --judge-url URL [--cpu-tiny] [--steps N] [--work DIR]

The database is the embedded server of RUBRICFORGE_HOME (or DATABASE_URL). The judge
is tests/rubric_judge.py's word judge, already running at URL. The snapshot holds the
RaR-Medicine sample rows, each rubric with two word criteria the judge can meet.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from rubric_judge import word_criterion
from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.core import migrate
from rubricforge.models.core.db import get_engine, resolve_url, session_scope
from rubricforge.models.core.status import Status
from rubricforge.models.data.exporter import ExportFilter, create_snapshot
from rubricforge.models.data.importer import import_file
from rubricforge.models.rubrics.orm import Dataset, Prompt, Rubric, RubricStatus
from rubricforge.models.training.jobs import job_metrics, submit_job
from rubricforge.models.training.orm import TrainingJob
from rubricforge.trainer.tiny import QWEN25_05B, build_tiny_model
from sqlalchemy import Engine, select, update

TARGET_SHARE = 0.10  # the judge may take at most this share of a step
CPU_TINY = {"hidden_size": 64, "layers": 2, "heads": 4, "kv_heads": 2, "vocab_size": 4096}


def seed(engine: Engine, work: Path) -> int:
    """The RaR sample rows with two word criteria each, imported, approved, frozen."""
    sample = REPO / "tests/data/rar_medicine_sample.jsonl"
    rows = []
    for line in sample.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            rows.append(
                {
                    "uid": row["uid"],
                    "question": row["question"],
                    "reference_answer": row["reference_answer"],
                    "rubric": row["rubric"] + [word_criterion("fever"), word_criterion("cough")],
                }
            )
    path = work / "smoke.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    import_file(engine, path, "gpu-smoke", actor=OPERATOR)
    with session_scope(engine) as s:
        ids = select(Rubric.id).join(Prompt).join(Dataset).where(Dataset.name == "gpu-smoke")
        s.execute(
            update(Rubric)
            .where(Rubric.id.in_(ids))
            .values(status=RubricStatus.approved, approved_version_id=Rubric.head_version_id)
        )
    return create_snapshot(engine, ExportFilter(dataset="gpu-smoke"), actor=OPERATOR).id


def job_config(judge_url: str, steps: int, tiny: bool) -> dict[str, Any]:
    return {
        "model_name_or_path": "smoke",
        "judge": {
            "base_url": judge_url,
            "model": "word-judge",
            "mode": "explicit",
            "api_key_env": "none",
        },
        "run_name": "smoke",
        "num_generations": 8,
        "per_device_train_batch_size": 8 if tiny else 32,
        "gradient_accumulation_steps": 1,
        "max_steps": steps,
        "max_completion_length": 16 if tiny else 512,
        "learning_rate": 1e-6,
        "warmup_ratio": 0.0,
        "temperature": 1.0,
        "gradient_checkpointing": False,
        "seed": 0,
    }


def report(metrics: list[tuple[int, dict[str, Any]]]) -> dict[str, float]:
    """Step time (median past the first, warm-up step), tokens/s, judge share of step time."""
    timed = [v for _, v in metrics if "step_time" in v]
    steady = timed[1:] or timed
    step_s = [v["step_time"] for v in steady]
    judge_s = [v.get("judge/wall_s", 0.0) for v in steady]
    tokens = [v["num_tokens"] for _, v in metrics if "num_tokens" in v]
    # num_tokens is cumulative (prompt + completion tokens seen so far).
    per_step = (
        tokens[-1] / len(tokens)
        if len(tokens) < 2
        else (tokens[-1] - tokens[0]) / (len(tokens) - 1)
    )
    return {
        "steps": float(len(metrics)),
        "step_time_s": statistics.median(step_s),
        "tokens_per_s": per_step / statistics.median(step_s),
        "reward_share": sum(judge_s) / sum(step_s),
        "completion_tokens_mean": statistics.mean(
            v.get("completions/mean_length", 0.0) for v in steady
        ),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--judge-url", required=True)
    ap.add_argument("--cpu-tiny", action="store_true", help="a tiny shape on the CPU")
    ap.add_argument("--steps", type=int, default=0, help="default: 8 on a GPU, 3 with --cpu-tiny")
    ap.add_argument("--work", type=Path, default=Path("gpu-smoke-work"))
    args = ap.parse_args()
    tiny = args.cpu_tiny
    steps = args.steps or (3 if tiny else 8)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    shape = CPU_TINY if tiny else {**QWEN25_05B, "dtype": "bfloat16"}
    model = build_tiny_model(work / "model", **shape)  # type: ignore[arg-type]
    built = time.perf_counter() - started
    print(f"model: random Qwen2, {json.dumps(shape)}, built in {built:.0f} s")
    url = resolve_url()  # DATABASE_URL, or the embedded server of RUBRICFORGE_HOME
    migrate.upgrade(url)
    engine = get_engine(url)
    snapshot_id = seed(engine, work)
    with session_scope(engine) as s:
        job_id = submit_job(
            s, actor=OPERATOR, snapshot_id=snapshot_id,
            config=job_config(args.judge_url, steps, tiny),
            override_reason="gpu smoke run: no spot-check labels",
        )  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if tiny:  # the CPU, one thread: the tiny shape gains nothing from more
        env.update(CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "rubricforge.cli", "worker", "--once"]
    cmd += ["--model", f"smoke={model}", "--runs-dir", str(work / "runs")]
    trained = time.perf_counter()
    subprocess.run(cmd, env=env, check=True)
    wall = time.perf_counter() - trained

    with session_scope(engine) as s:
        row = s.get_one(TrainingJob, job_id)
        status, error = row.status, row.error
        metrics = job_metrics(s, job_id)
    if status is not Status.succeeded:
        print(f"job {job_id} {status.value}: {error}")
        return 1
    figures = report(metrics)
    print(f"job {job_id} succeeded: {steps} steps in {wall:.1f} s (worker start included)")
    print(f"step time: {figures['step_time_s']:.3f} s (median past step 1)")
    print(f"tokens/s: {figures['tokens_per_s']:.0f}")
    print(f"completion tokens (mean): {figures['completion_tokens_mean']:.1f}")
    share = figures["reward_share"]
    verdict = "within" if share <= TARGET_SHARE else "OVER"
    print(f"reward share of step time: {share:.1%} ({verdict} the {TARGET_SHARE:.0%} target)")
    print(f"total: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
