"""Does a real judge pay for keyword stuffing? For each RaR row, the reference answer
and a completion that only lists every paying criterion's words are judged by a real
OpenAI-compatible endpoint with the default judge prompts, through the same reward
path a training run uses (trainer/run.py's judge, trainer/reward.py).

    python bench/hacking_check.py --base-url http://localhost:8000/v1 --model gpt-4o-mini \
        [--api-key-env OPENAI_API_KEY] [--mode explicit|implicit|both] [--rows FILE] [--limit N]

Prints both scores per row and their means; exits 0 when the stuffed completion scores
below the reference on average in every mode asked, 1 otherwise, 2 when judgments fail.
The rows default to the RaR-Medicine sample in tests/data.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from rubric_judge import stuffed_completion
from rubricforge.models.rubrics.criteria import category_from_weight
from rubricforge.models.training.config import JudgeSpec
from rubricforge.trainer.reward import RewardStats, make_reward_func
from rubricforge.trainer.run import build_judge


def stuffed(row: dict[str, Any]) -> str:
    return stuffed_completion([c["title"] for c in row["rubric"] if c["weight"] > 0])


def rubric_column(row: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "title": c["title"],
            "description": c["description"],
            "category": category_from_weight(c["weight"]).value,
            "weight": float(c["weight"]),
        }
        for c in row["rubric"]
    ]


def score(spec: JudgeSpec, rows: list[dict[str, Any]]) -> tuple[list[tuple[float, float]], int]:
    """(stuffed, reference) rewards per row, and how many judgments failed."""
    stats = RewardStats()
    reward = make_reward_func(build_judge(spec), max_failure_rate=1.0, stats=stats)
    prompts, completions, rubrics, refs = [], [], [], []
    for row in rows:
        for text in (stuffed(row), row["reference_answer"]):
            prompts.append([{"role": "user", "content": row["question"]}])
            completions.append([{"role": "assistant", "content": text}])
            rubrics.append(rubric_column(row))
            refs.append(row["reference_answer"])
    out = asyncio.run(
        reward(prompts=prompts, completions=completions, rubric=rubrics, reference_answer=refs)
    )
    failures = stats.last.failures if stats.last else 0
    return [(out[i], out[i + 1]) for i in range(0, len(out), 2)], failures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base-url", required=True, help="OpenAI-compatible judge URL (.../v1)")
    ap.add_argument("--model", required=True, help="judge model name at that URL")
    ap.add_argument("--api-key-env", default="OPENAI_API_KEY", help="variable with the key")
    ap.add_argument("--mode", choices=["explicit", "implicit", "both"], default="both")
    ap.add_argument("--rows", type=Path, default=REPO / "tests/data/rar_medicine_sample.jsonl")
    ap.add_argument("--limit", type=int, default=50, help="rows judged, at most")
    args = ap.parse_args()

    rows = [json.loads(line) for line in args.rows.read_text().splitlines() if line.strip()]
    rows = rows[: args.limit]
    modes = ["explicit", "implicit"] if args.mode == "both" else [args.mode]
    verdict = 0
    for mode in modes:
        spec = JudgeSpec(
            base_url=args.base_url, model=args.model, mode=mode, api_key_env=args.api_key_env
        )
        pairs, failures = score(spec, rows)
        print(f"== {mode} judge, {args.model}: {len(rows)} rows ==")
        for row, (hacked, reference) in zip(rows, pairs, strict=True):
            print(f"{row.get('uid', '?'):<24} stuffed {hacked:.3f}  reference {reference:.3f}")
        mean_h = sum(h for h, _ in pairs) / len(pairs)
        mean_r = sum(r for _, r in pairs) / len(pairs)
        below = sum(h < r for h, r in pairs)
        print(
            f"mean: stuffed {mean_h:.3f}  reference {mean_r:.3f}  "
            f"(stuffed below reference on {below}/{len(pairs)} rows; {failures} failed)"
        )
        if failures:
            print(f"{failures} judgment(s) failed; their scores are the fallback 0.0")
            verdict = max(verdict, 2)
        elif mean_h >= mean_r:
            print("FAIL: the stuffed completion did not score below the reference")
            verdict = max(verdict, 1)
    return verdict


if __name__ == "__main__":
    sys.exit(main())
