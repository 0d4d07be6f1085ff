"""One claimed job, trained: snapshot rows -> dataset, judge -> reward, TRL's
GRPOTrainer with our queue callback, model saved to the output folder.

The worker (trainer/worker.py) owns the claim, the lease and the outcome; this
module only trains, and reports how far it got.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rubricforge.models.core.errors import RubricforgeError
from rubricforge.models.judging.judge import Judge
from rubricforge.models.training.config import JudgeSpec
from rubricforge.models.training.queue import ClaimedJob, Queue
from rubricforge.models.training.worker_policy import WorkerPolicy
from sqlalchemy import Engine
from transformers import AutoTokenizer
from transformers.trainer_utils import get_last_checkpoint
from trl import GRPOTrainer
from trl.trainer.utils import shutdown_event_loop_in_daemon

from .callbacks import QueueCallback, StopFlags, StopReason
from .config import peft_config, to_grpo_config
from .dataset import SnapshotMismatchError, load_snapshot_dataset
from .extra_rewards import build_monitor_judge, make_verifiable_funcs, with_monitor
from .ranks import Ranks
from .reward import JudgeFailureError, RewardStats, make_reward_func

log = logging.getLogger("rubricforge.worker")


@dataclass(frozen=True)
class RunResult:
    step: int  # optimizer steps done (including those of a resumed checkpoint)
    output_dir: Path
    completed: bool  # reached max_steps without being stopped; the model is saved
    stopped_for: StopReason | None  # why the run stopped early, the same on every rank


def build_judge(spec: JudgeSpec) -> Judge:
    """The reward's judge, as the job's preset asks (the preview builds the same)."""
    endpoint = spec.endpoint()
    endpoint.api_key()  # fail now, with the variable named, rather than at the first step
    # Kept clients: every step's batch runs on TRL's one reward loop, so the judge's
    # connections stay open from step to step (closed in run_job's finally).
    return Judge(spec.judge_config(endpoint), keep_clients=True)


def build_sample_judge(spec: JudgeSpec) -> Judge | None:
    """The explicit judge of the per-category sample, for the rating presets."""
    config = spec.sample_judge_config()
    return Judge(config, keep_clients=True) if config is not None else None


def _launch_record(job: ClaimedJob, worker_id: str, sha256: str, judge: Judge) -> dict[str, Any]:
    import transformers
    import trl

    return {
        "launch": {
            "number": job.provenance.get("launch", {}).get("number", 0) + 1,
            "worker_id": worker_id,
            "attempt": job.attempt,
            "rows_sha256": sha256,
            "judge_template_hash": judge.template_hash,
            "versions": {
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "trl": trl.__version__,
            },
        }
    }


def _decider(
    queue: Queue, job_id: int, flags: StopFlags, ranks: Ranks, stats: RewardStats
) -> Callable[[], StopReason | None]:
    """What to do at a step end, the same on every rank: fail the run when any
    process's judge failed too often, else stop for rank 0's reason, if any."""

    def decide() -> StopReason | None:
        if ranks.any(stats.abort is not None):
            raise JudgeFailureError(
                stats.abort or "the judge failed on too many completions on another process"
            )
        if ranks.main:
            try:
                beat = queue.cancel_requested(job_id)
            except Exception as exc:  # a DB blip must not kill the step; the heartbeat fences
                log.warning("job %s: cancel check failed: %s", job_id, exc)
            else:
                if not beat.owned:
                    flags.set(StopReason.lease_lost)
                elif beat.cancel_requested:
                    flags.set(StopReason.cancelled)
        return ranks.share(flags.reason)

    return decide


def run_job(
    job: ClaimedJob,
    *,
    engine: Engine,
    queue: Queue,
    flags: StopFlags,
    ranks: Ranks,
    policy: WorkerPolicy,
) -> RunResult:
    """Train the claimed job until max_steps or until rank 0's `flags` say stop."""
    cfg = policy.check(job.config)  # every rank re-checks what rank 0 claimed
    model = policy.model_source(cfg.model_name_or_path)
    output_dir = policy.output_dir(job.id, cfg)
    data = load_snapshot_dataset(engine, job.snapshot_id)
    frozen = job.provenance.get("snapshot", {}).get("sha256")
    if frozen and frozen != data.sha256:
        raise SnapshotMismatchError(
            f"job {job.id} was submitted on snapshot sha256 {frozen[:12]}..., but the snapshot "
            f"now reads as {data.sha256[:12]}...; submit a new job"
        )
    judge = build_judge(cfg.judge)
    monitor = build_monitor_judge(cfg)
    resume = _checkpoint_to_resume(job, output_dir)
    if ranks.main:
        queue.add_provenance(job.id, _launch_record(job, queue.worker_id, data.sha256, judge))
        resumed_at = int(Path(resume).name.rsplit("-", 1)[1]) if resume else 0
        queue.drop_metrics_after(job.id, resumed_at)

    stats = RewardStats()
    reward = make_reward_func(
        judge,
        fallback_reward=cfg.judge.fallback_reward,
        max_failure_rate=cfg.judge.max_failure_rate,
        stats=stats,
        processes=ranks.world,
        sample_judge=build_sample_judge(cfg.judge),
        category_sample=cfg.judge.category_sample,
    )
    if monitor is not None:  # the rubric-free drift monitor rides on the rubric reward
        reward = with_monitor(reward, monitor, cfg.monitor, seed=cfg.seed)
    rewards = [reward, *make_verifiable_funcs(cfg.verifiable_rewards)]
    callback = QueueCallback(
        flags=flags,
        decide=_decider(queue, job.id, flags, ranks, stats),
        write_metric=lambda step, values: queue.write_metric(job.id, step, values),
        stats=stats,
    )
    try:
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=rewards,  # type: ignore[arg-type]  # TRL runs async rewards; its hint omits them
            args=to_grpo_config(cfg, output_dir),
            train_dataset=data.dataset,
            processing_class=AutoTokenizer.from_pretrained(model, trust_remote_code=False),
            callbacks=[callback],
            peft_config=peft_config(cfg),  # None: every weight trains
        )
    except OSError as exc:  # not found locally, not on the hub, or the hub unreachable
        raise RubricforgeError(
            f"base model '{cfg.model_name_or_path}' ({model}) could not be loaded on worker "
            f"{queue.worker_id}: {exc}"
        ) from None
    try:
        early = ranks.share(flags.reason)
        if early is not None:  # stopped while loading: nothing trained, nothing to save
            return RunResult(step=0, output_dir=output_dir, completed=False, stopped_for=early)
        if resume:
            log.info("job %s: resuming from %s", job.id, resume)
        trainer.train(resume_from_checkpoint=resume)
        step = trainer.state.global_step
        completed = callback.decision is None and step >= cfg.max_steps
        if completed:
            trainer.save_model(str(output_dir))
        return RunResult(
            step=step, output_dir=output_dir, completed=completed, stopped_for=callback.decision
        )
    finally:
        # TRL runs async rewards on a daemon event loop per trainer; a long-lived
        # worker would otherwise keep one per job, with the model alive. The judges'
        # kept clients close first, as asyncio.run would close them (shutdown_asyncgens).
        loop = getattr(trainer, "async_loop", None)
        if loop is not None and loop.is_running():
            closing = asyncio.run_coroutine_threadsafe(loop.shutdown_asyncgens(), loop)
            try:
                closing.result(timeout=30)
            except Exception as exc:  # a stuck close must not hide how the run ended
                log.warning("closing the judges' connections failed: %s", exc)
        shutdown_event_loop_in_daemon(getattr(trainer, "async_loop_thread", None), loop)
        del trainer
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _checkpoint_to_resume(job: ClaimedJob, output_dir: Path) -> str | None:
    """The latest checkpoint of an earlier launch of this same job, if any.

    A first launch never resumes: a user-chosen output folder may hold another
    run's checkpoints.
    """
    if "launch" not in job.provenance or not output_dir.is_dir():
        return None
    return get_last_checkpoint(str(output_dir))
