"""Bulk explicit judging against a judge that answers after 200 ms, then the same
judgments again from the Postgres cache.

    python bench/judge.py --judgments 2000 --criteria 15 --concurrency 64 --delay 0.2

Goes through what `rubricforge judge` uses: Judge.judge_many -> LLMClient -> HTTP,
with the llm_cache table in a real PostgreSQL (a throwaway embedded server unless
--database-url is given). The judge is the scripted server of tests/llm_server.py
in its own process (bench/reward.py's), answering every criterion.

Targets : first pass wall <= 1.15x ideal (judgments x delay / concurrency);
the cached second pass <= 5% of the first pass's time.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from reward import start_endpoint
from rubricforge.models.core import migrate
from rubricforge.models.core.db import normalize_url
from rubricforge.models.core.embedded import EmbeddedServer
from rubricforge.models.judging.judge import Judge, JudgeConfig, JudgeItem
from rubricforge.models.llm.config import EndpointConfig
from rubricforge.models.rubrics.criteria import CriterionData
from rubricforge.models.rubrics.orm import Category
from sqlalchemy import create_engine, text

PLAN = [(Category.essential, 5.0)] * 4 + [(Category.important, 3.0)] * 5
PLAN += [(Category.optional, 1.0)] * 4 + [(Category.pitfall, -2.0)] * 2


def items(n: int, criteria: int) -> list[JudgeItem]:
    out = []
    for i in range(n):
        prompt = i // 8  # 8 responses per prompt, as a GRPO group would give
        rubric = tuple(
            CriterionData(
                f"Point {j}", f"States fact {j} about case {prompt}.", c, w, key=f"{prompt}-{j}"
            )
            for j, (c, w) in enumerate((PLAN * (criteria // len(PLAN) + 1))[:criteria])
        )
        out.append(
            JudgeItem(f"Question about case {prompt}?", f"Response {i}: " + "text " * 60, rubric)
        )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--judgments", type=int, default=2000)
    ap.add_argument("--criteria", type=int, default=15)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--delay", type=float, default=0.2)
    ap.add_argument("--database-url")
    args = ap.parse_args()

    home = None
    if args.database_url:
        url = normalize_url(args.database_url)
    else:
        home = Path(tempfile.mkdtemp(prefix="rf-bench-judge-"))
        url = EmbeddedServer(home).ensure_running()
    proc, base_url = start_endpoint(args.delay)
    try:
        migrate.upgrade(url)
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM llm_cache"))
        endpoint = EndpointConfig(
            base_url=base_url, model="bench-judge", api_key_env=None, timeout=60
        )
        config = JudgeConfig(endpoint, concurrency=args.concurrency)
        work = items(args.judgments, args.criteria)

        t0 = time.perf_counter()
        first = Judge(config, engine=engine).judge_many_sync(work)
        wall1 = time.perf_counter() - t0
        t0 = time.perf_counter()
        second = Judge(config, engine=engine).judge_many_sync(work)
        wall2 = time.perf_counter() - t0

        ok = sum(r.ok for r in first)
        cached = sum(r.cached for r in second)
        ideal = args.judgments * args.delay / args.concurrency
        ratio, share = wall1 / ideal, wall2 / wall1
        print(
            f"{args.judgments} explicit judgments x {args.criteria} criteria, "
            f"{args.concurrency} in flight, judge answers after {args.delay * 1000:.0f} ms"
        )
        print(f"{'':28s}{'seconds':>10s}{'target':>22s}")
        print(f"{'ideal (n x delay / C)':28s}{ideal:10.2f}")
        print(f"{'first pass (LLM)':28s}{wall1:10.2f}{'<= 1.15x ideal':>22s}  {ratio:.2f}x")
        print(f"{'second pass (cache)':28s}{wall2:10.2f}{'<= 5% of first':>22s}  {share:.1%}")
        print(f"judged ok {ok}/{len(work)}; second pass from cache {cached}/{len(work)}")
        engine.dispose()
        return 0 if ratio <= 1.15 and share <= 0.05 and ok == len(work) == cached else 1
    finally:
        proc.terminate()
        if home is not None:
            EmbeddedServer(home).stop()
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
