"""Held-out rubric reward: sample completions from a saved policy on a snapshot's
prompts and score them with the same judge the training run used.

This is the evidence that training followed the rubric: the mean reward on
prompts the run never saw, after training, against the same measure taken on
the model it started from (tests/test_learning.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rubricforge.models.data.snapshot_rows import SnapshotRow
from rubricforge.models.judging.judge import Judge, JudgeItem
from transformers import AutoModelForCausalLM, AutoTokenizer


@dataclass(frozen=True)
class HeldOutScore:
    mean_reward: float
    completions: list[str]
    rewards: list[float]
    failures: int


def sample_completions(
    model_dir: str | Path,
    rows: list[SnapshotRow],
    *,
    per_prompt: int = 16,
    max_new_tokens: int = 16,
    temperature: float = 1.0,
    seed: int = 0,
) -> list[list[str]]:
    """`per_prompt` sampled completions for each row's chat prompt, reproducible by seed."""
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=False)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), trust_remote_code=False)
    model.eval()
    out = []
    for n, row in enumerate(rows):
        encoded: Any = tokenizer.apply_chat_template(
            row.chat(), add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        ids: torch.Tensor = encoded["input_ids"]
        torch.manual_seed(seed + n)
        with torch.no_grad():
            generated = model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                do_sample=True,
                temperature=temperature,
                top_k=0,
                top_p=1.0,
                max_new_tokens=max_new_tokens,
                num_return_sequences=per_prompt,
                pad_token_id=tokenizer.pad_token_id,
            )
        out.append(tokenizer.batch_decode(generated[:, ids.shape[1] :], skip_special_tokens=True))
    return out


def heldout_reward(
    model_dir: str | Path,
    rows: list[SnapshotRow],
    judge: Judge,
    *,
    per_prompt: int = 16,
    max_new_tokens: int = 16,
    seed: int = 0,
    fallback_reward: float = 0.0,
) -> HeldOutScore:
    """The judge's mean reward over `per_prompt` samples for each held-out row."""
    sampled = sample_completions(
        model_dir, rows, per_prompt=per_prompt, max_new_tokens=max_new_tokens, seed=seed
    )
    items = [
        JudgeItem(
            prompt=row.question,
            response=text,
            criteria=row.criteria(),
            reference_answer=row.reference_answer,
        )
        for row, texts in zip(rows, sampled, strict=True)
        for text in texts
    ]
    results = judge.judge_many_sync(items)
    rewards = [r.reward_or(fallback_reward) for r in results]
    return HeldOutScore(
        mean_reward=sum(rewards) / len(rewards) if rewards else 0.0,
        completions=[i.response for i in items],
        rewards=rewards,
        failures=sum(not r.ok for r in results),
    )
