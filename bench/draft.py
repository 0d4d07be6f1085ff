"""Bulk drafting against a local endpoint that answers after 200 ms, 64 requests in flight.

    python bench/draft.py --prompts 2000 --concurrency 64 --delay 0.2

The endpoint is tests/llm_server.py in its own process (a real endpoint's CPU
is not ours either), replying with a valid 12-criterion rubric. Timed:
1. "LLM only": every prompt drafted through `Drafter` + `LLMClient` (HTTP,
   retries machinery, JSON schema validation), nothing saved;
2. "draft_dataset": the whole service: pending query, drafting, and every
   draft saved as a new rubric version (rubric, version, criteria, head move,
   audit), committed;
3. a second `draft_dataset` run, which must find nothing to draft.
Target (issue "Rubric authoring"): wall <= 1.25x the ideal prompts x delay / in-flight.

Without --database-url it runs a throwaway embedded PostgreSQL under /tmp.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import Engine, create_engine, func, insert, select

REPO = Path(__file__).resolve().parent.parent

from rubricforge.models import Dataset, Prompt, RubricVersion
from rubricforge.models.core import migrate
from rubricforge.models.core.db import normalize_url
from rubricforge.models.core.embedded import EmbeddedServer
from rubricforge.models.llm.client import LLMClient
from rubricforge.models.llm.config import EndpointConfig
from rubricforge.models.rubrics.drafting import Drafter, draft_dataset

RATIO_LIMIT = 1.25


def start_endpoint(delay: float, items: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "tests" / "llm_server.py"),
            "--delay",
            str(delay),
            "--items",
            str(items),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def add_prompts(engine: Engine, name: str, n: int) -> None:
    with engine.begin() as conn:
        dataset_id = conn.scalar(insert(Dataset).values(name=name).returning(Dataset.id))
        conn.execute(
            insert(Prompt),
            [
                {
                    "dataset_id": dataset_id,
                    "external_id": f"b{i:06d}",
                    "question": f"Question {i}: which first-line therapy, and at what dose? " * 4,
                    "reference_answer": f"Reference {i}: drug X, 5 mg daily, renal dosing. " * 12,
                }
                for i in range(n)
            ],
        )


async def llm_only(endpoint: EndpointConfig, n: int, concurrency: int) -> int:
    drafter = Drafter(endpoint)
    async with LLMClient(endpoint, concurrency=concurrency) as client:
        drafts = await asyncio.gather(
            *(drafter.adraft(client, f"Question {i}?", "Reference.") for i in range(n))
        )
    return sum(len(d.criteria) for d in drafts)


def endpoint_cpu(pid: int) -> float:
    """CPU seconds the endpoint process used so far (it shares our 2 cores)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(fn, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201 - a stopwatch
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--delay", type=float, default=0.2, help="endpoint seconds per reply")
    parser.add_argument("--items", type=int, default=12, help="criteria per drafted rubric")
    parser.add_argument("--database-url", help="default: a throwaway embedded server in /tmp")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="rf-bench-draft-", dir="/tmp"))
    server = None if args.database_url else EmbeddedServer(work / "home")
    proc, base_url = start_endpoint(args.delay, args.items)
    try:
        url = server.ensure_running() if server else normalize_url(args.database_url)
        migrate.upgrade(url)
        engine = create_engine(url)
        dataset = f"bench-draft-{int(time.time())}"
        add_prompts(engine, dataset, args.prompts)
        endpoint = EndpointConfig(base_url=base_url, model="bench-m", api_key_env=None)
        ideal = args.prompts * args.delay / args.concurrency
        load_before = os.getloadavg()[0]

        endpoint_cpu_before = endpoint_cpu(proc.pid)
        _, wall_llm, cpu_llm = timed(
            asyncio.run, llm_only(endpoint, args.prompts, args.concurrency)
        )
        report, wall_full, cpu_full = timed(
            draft_dataset, engine, dataset, endpoint, concurrency=args.concurrency
        )
        again, wall_again, _ = timed(
            draft_dataset, engine, dataset, endpoint, concurrency=args.concurrency
        )
        endpoint_cpu_s = endpoint_cpu(proc.pid) - endpoint_cpu_before
        with engine.connect() as conn:
            versions = conn.scalar(select(func.count()).select_from(RubricVersion))
        load_after = os.getloadavg()[0]
        engine.dispose()

        assert report.drafted == args.prompts and not report.failures, report.summary()
        assert again.attempted == 0 and versions == args.prompts
        print(
            f"\n{args.prompts} prompts, {args.concurrency} in flight, endpoint delay "
            f"{args.delay * 1000:.0f} ms, {args.items} criteria per rubric; "
            f"{os.cpu_count()} cores, load average {load_before:.2f} before, "
            f"{load_after:.2f} after"
        )
        print(f"{'run':<34}{'wall s':>8}{'cpu s':>8}{'x ideal':>9}")
        print(f"{'ideal (prompts x delay / flight)':<34}{ideal:>8.2f}")
        print(
            f"{'LLM only (Drafter, no saves)':<34}{wall_llm:>8.2f}{cpu_llm:>8.2f}"
            f"{wall_llm / ideal:>8.2f}x"
        )
        print(
            f"{'draft_dataset (drafts + saves)':<34}{wall_full:>8.2f}{cpu_full:>8.2f}"
            f"{wall_full / ideal:>8.2f}x"
        )
        print(f"{'second run (nothing to draft)':<34}{wall_again:>8.2f}")
        print(f"endpoint process CPU over the three runs: {endpoint_cpu_s:.2f} s")
        ok = wall_full <= RATIO_LIMIT * ideal
        print(
            f"target wall <= {RATIO_LIMIT}x ideal ({RATIO_LIMIT * ideal:.2f} s): "
            f"{'met' if ok else 'MISSED'}"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
