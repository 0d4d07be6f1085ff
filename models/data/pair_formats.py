"""Preference pairs out of rubric-scored responses, in TRL's DPO format.

No database: the pairs are built from scored prompts (see
`models.judging.preference_pairs`, which reads a snapshot's judged responses).

For each prompt, every two responses whose rewards differ make one pair, the
higher-scored one `chosen`: n responses with distinct rewards give n(n-1)/2
pairs. Ties (equal rewards) never make a pair, nor do two responses with the
same text; with `min_margin`, neither do pairs whose reward difference is
smaller. Rows are TRL's conversational preference type (the DPOTrainer's
dataset format): `prompt` is the conversation, `chosen` and `rejected` one
assistant message each, plus `margin` (chosen reward - rejected reward), both
rewards and the prompt's uid. The ranked list has one row per prompt, its
responses best first (equal rewards share a rank).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from rubricforge.models.core.errors import InvalidInputError

PAIRS_FILE = "dpo_pairs.jsonl"
RANKED_FILE = "ranked.jsonl"


@dataclass(frozen=True)
class ScoredResponse:
    response_id: int
    text: str
    reward: float
    source: str
    author_model: str


@dataclass(frozen=True)
class ScoredPrompt:
    uid: str
    prompt: tuple[tuple[str, str], ...]  # (role, content) turns
    responses: tuple[ScoredResponse, ...]

    def chat(self) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in self.prompt]

    def ranked(self) -> list[ScoredResponse]:
        return sorted(self.responses, key=lambda r: (-r.reward, r.response_id))


@dataclass(frozen=True)
class PreferencePair:
    prompt: ScoredPrompt
    chosen: ScoredResponse
    rejected: ScoredResponse

    @property
    def margin(self) -> float:
        return self.chosen.reward - self.rejected.reward

    def to_row(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt.chat(),
            "chosen": [{"role": "assistant", "content": self.chosen.text}],
            "rejected": [{"role": "assistant", "content": self.rejected.text}],
            "margin": self.margin,
            "chosen_reward": self.chosen.reward,
            "rejected_reward": self.rejected.reward,
            "uid": self.prompt.uid,
        }


@dataclass(frozen=True)
class PairSet:
    pairs: tuple[PreferencePair, ...]
    prompts: tuple[ScoredPrompt, ...]
    ties: int  # response pairs with equal rewards (or the same text), skipped
    below_margin: int  # pairs whose margin is under min_margin, skipped
    min_margin: float

    def summary(self) -> str:
        responses = sum(len(p.responses) for p in self.prompts)
        return (
            f"{len(self.pairs)} preference pairs from {responses} scored responses to "
            f"{len(self.prompts)} prompts; {self.ties} tied pairs skipped"
            + (
                f", {self.below_margin} below the minimum margin {self.min_margin:g}"
                if self.min_margin > 0
                else ""
            )
        )


def check_margin(min_margin: float) -> float:
    if not math.isfinite(min_margin) or min_margin < 0:
        raise InvalidInputError(
            f"the minimum margin must be a number of at least 0, got {min_margin}; "
            "0 keeps every pair whose rewards differ"
        )
    return float(min_margin)


def preference_pairs(prompts: Sequence[ScoredPrompt], *, min_margin: float = 0.0) -> PairSet:
    """Every chosen/rejected pair per prompt, best-scored first (pure)."""
    min_margin = check_margin(min_margin)
    pairs: list[PreferencePair] = []
    ties = below = 0
    for prompt in prompts:
        for a, b in combinations(prompt.ranked(), 2):  # a.reward >= b.reward
            if a.reward == b.reward or a.text == b.text:
                ties += 1
            elif a.reward - b.reward < min_margin:
                below += 1
            else:
                pairs.append(PreferencePair(prompt, a, b))
    return PairSet(tuple(pairs), tuple(prompts), ties, below, min_margin)


def ranked_rows(prompts: Sequence[ScoredPrompt]) -> list[dict[str, Any]]:
    """One row per prompt: its responses best first, equal rewards sharing a rank."""
    rows = []
    for prompt in prompts:
        ranked, rank, previous = [], 0, None
        for i, r in enumerate(prompt.ranked(), start=1):
            if r.reward != previous:
                rank, previous = i, r.reward
            ranked.append(
                {
                    "rank": rank,
                    "reward": r.reward,
                    "text": r.text,
                    "source": r.source,
                    "author_model": r.author_model,
                    "response_id": r.response_id,
                }
            )
        rows.append({"uid": prompt.uid, "prompt": prompt.chat(), "responses": ranked})
    return rows


def jsonl(rows: Sequence[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


def pairs_jsonl(pair_set: PairSet) -> bytes:
    return jsonl([p.to_row() for p in pair_set.pairs])


def ranked_jsonl(pair_set: PairSet) -> bytes:
    return jsonl(ranked_rows(pair_set.prompts))
