"""The TrainerCallback between a GRPO run and the job queue.

At every step end it asks whether to stop (cancel requested, SIGTERM, lease
lost) and, if so, stops the run after this step, saving a checkpoint first when
the job will be resumed. At every logging step it writes one metrics row: what
TRL logs (reward mean/std, KL, completion lengths, step time, ...) plus the
judge's numbers from the reward function.
"""

from __future__ import annotations

import enum
import math
import threading
from collections.abc import Callable
from typing import Any

from rubricforge.models.training.jobs import SAMPLES_KEY
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from .reward import RewardStats


class StopReason(enum.StrEnum):
    cancelled = "cancelled"  # a user asked: finish as cancelled
    sigterm = "sigterm"  # the worker is stopping: checkpoint, give the job back
    lease_lost = "lease_lost"  # someone else owns the job now: write nothing more


class StopFlags:
    """Why the run should stop, set from the heartbeat thread, the signal handler or
    the per-step check; read by the callback on the training thread."""

    def __init__(self) -> None:
        self._reason: StopReason | None = None
        self._lock = threading.Lock()

    def set(self, reason: StopReason) -> None:
        with self._lock:
            # A lost lease outranks everything: nothing may be written after it.
            if self._reason is None or reason is StopReason.lease_lost:
                self._reason = reason

    @property
    def reason(self) -> StopReason | None:
        with self._lock:
            return self._reason


def _numeric(logs: dict[str, Any]) -> dict[str, float]:
    # JSON has no NaN/inf; TRL logs None for metrics without values.
    return {
        k: float(v)
        for k, v in logs.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }


class QueueCallback(TrainerCallback):
    """Writes metric rows through `write_metric(step, values)` and stops when `decide()`
    says so.

    `decide()` runs at every step end (one cheap query: was a cancel requested, do we
    still own the job?), so a cancel is honoured at the end of the step in progress,
    however long the heartbeat interval. In a multi-process run it returns rank 0's
    decision on every rank.
    """

    def __init__(
        self,
        *,
        flags: StopFlags,
        decide: Callable[[], StopReason | None],
        write_metric: Callable[[int, dict[str, Any]], None],
        stats: RewardStats,
    ):
        self.flags = flags
        self.decide = decide
        self.write_metric = write_metric
        self.stats = stats
        self.decision: StopReason | None = None  # what this run stopped for, the same on every rank
        # Running sums of the per-step judge counts, for the curves of the whole run.
        self._totals = {"judge/completions": 0.0, "judge/failures": 0.0}
        self._last_logged_step = 0

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **_: Any
    ) -> TrainerControl:
        reason = self.decide()
        if reason is not None:
            self.decision = reason
            control.should_training_stop = True
            # Resume point for the next claim; a cancelled or lost job needs none.
            control.should_save = reason is StopReason.sigterm
        return control

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        # The end-of-training summary (train_runtime, ...) is not a step's metrics.
        if not logs or "train_runtime" in logs or not state.is_world_process_zero:
            return
        if self.flags.reason is StopReason.lease_lost:
            return
        values: dict[str, Any] = _numeric(logs)
        # Logged values are means over the steps since the last log: times steps = sums.
        steps = state.global_step - self._last_logged_step
        self._last_logged_step = state.global_step
        for key in self._totals:
            self._totals[key] += values.get(key, 0.0) * steps
            values[f"{key}_total"] = self._totals[key]
        if self.stats.samples:
            values[SAMPLES_KEY] = self.stats.samples
        self.write_metric(state.global_step, values)
