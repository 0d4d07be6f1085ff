"""What the judge is given and what it answers: plain data, shared by the engine
(judge.py), the trainer's reward and the app."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rubricforge.models.rubrics.criteria import CriterionData


@dataclass(frozen=True)
class JudgeItem:
    prompt: str
    response: str
    criteria: Sequence[CriterionData] = ()
    reference_answer: str | None = None


@dataclass(frozen=True)
class VerdictResult:
    met: bool | None
    rationale: str
    ok: bool


@dataclass
class JudgeResult:
    ok: bool
    reward: float | None
    rating: float | None = None
    verdicts: list[VerdictResult] = field(default_factory=list)
    error: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: int = 0
    cached: bool = False
    nul_replaced: int = 0  # rationales whose NUL characters became U+FFFD

    def reward_or(self, fallback: float) -> float:
        """The reward, or `fallback` when the judgment failed (what training uses)."""
        return self.reward if self.ok and self.reward is not None else fallback
