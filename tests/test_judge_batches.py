"""Large judge batches: finished judgments reach the cache while the rest are still
out, and full garbage collections stay off the batch (`models.core.gc_pause`)."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import threading
import time

import pytest
from llm_server import Reply, ScriptedLLM
from rubricforge.models.core.gc_pause import old_objects_frozen
from rubricforge.models.judging import batching
from rubricforge.models.judging.judge import Judge, JudgeConfig, JudgeItem
from rubricforge.models.judging.orm import JudgeMode, LLMCache
from rubricforge.models.llm.config import EndpointConfig
from rubricforge.models.rubrics.criteria import CriterionData
from rubricforge.models.rubrics.orm import Category
from sqlalchemy import Engine, func, select

RUBRIC = (CriterionData("States dose", "Gives the adult dose.", Category.essential, 5),)
N = batching.WRITE_BATCH + 44


def test_finished_judgments_are_cached_before_the_batch_ends(
    llm_server: ScriptedLLM, engine: Engine
) -> None:
    """A long run that dies late keeps what it paid for: rows are written in batches
    as judgments finish, not in one INSERT after the last reply."""

    def reply(body: dict) -> Reply:
        slow = "the last one" in body["messages"][1]["content"]
        answer = {"verdicts": [{"index": 1, "met": True, "rationale": "ok"}]}
        return Reply.json(answer, delay=4.0 if slow else 0.0)

    llm_server.respond_with(reply)
    items = [JudgeItem("Dose?", f"Response {i}.", RUBRIC) for i in range(N - 1)]
    items.append(JudgeItem("Dose?", "the last one", RUBRIC))
    endpoint = EndpointConfig(base_url=llm_server.base_url, model="m", api_key_env=None)
    judge = Judge(JudgeConfig(endpoint, concurrency=16), engine=engine)
    done: list[int] = []
    worker = threading.Thread(target=lambda: done.append(len(judge.judge_many_sync(items))))
    worker.start()

    def cached() -> int:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(LLMCache)).scalar_one()

    deadline = time.monotonic() + 3.5
    while cached() < batching.WRITE_BATCH and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cached() >= batching.WRITE_BATCH, "nothing was written while judging"
    assert worker.is_alive() and not done, "the batch was already over"
    worker.join(timeout=20)
    assert done == [N]
    assert cached() == N


def test_old_objects_are_frozen_only_while_a_batch_runs() -> None:
    assert gc.get_freeze_count() == 0
    with old_objects_frozen():
        frozen = gc.get_freeze_count()
        assert frozen > 1000, "the objects alive when the batch began are out of the collector"
        with old_objects_frozen():  # a second batch at the same time
            pass
        assert gc.get_freeze_count() == frozen, "the inner batch must not unfreeze the outer's"
    assert gc.get_freeze_count() == 0


def test_a_judgment_s_latency_leaves_out_its_wait_for_a_request_slot(
    llm_server: ScriptedLLM,
) -> None:
    """One request in flight, replies after 0.3 s: the second item waits 0.3 s for the
    slot (ready, not sent), and its latency is its own request's, not 0.6 s."""
    answer = {"verdicts": [{"index": 1, "met": True, "rationale": "ok"}]}
    llm_server.respond_with(lambda _body: Reply.json(answer, delay=0.3))
    endpoint = EndpointConfig(base_url=llm_server.base_url, model="m", api_key_env=None)
    items = [JudgeItem("Dose?", f"Response {i}.", RUBRIC) for i in range(3)]
    started = time.monotonic()
    results = Judge(JudgeConfig(endpoint, concurrency=1)).judge_many_sync(items)
    assert time.monotonic() - started >= 0.9, "one at a time"
    assert llm_server.max_in_flight == 1
    assert all(r.ok for r in results)
    assert all(300 <= r.latency_ms < 500 for r in results), [r.latency_ms for r in results]


def test_a_batch_is_looked_up_in_growing_chunks() -> None:
    spans = list(batching.chunks(100, 5))
    assert spans == [(0, 5), (5, 15), (15, 35), (35, 75), (75, 100)]
    assert list(batching.chunks(3, 5)) == [(0, 3)]
    assert list(batching.chunks(0, 5)) == []


def test_cache_hits_and_duplicates_in_later_chunks_are_not_paid_again(
    llm_server: ScriptedLLM, engine: Engine
) -> None:
    """The first requests go out after the first chunk's lookup; what later chunks hold
    (items judged in an earlier batch, repeats of an item already out) is still
    served from the cache or paid once, with results in the items' order."""
    answer = {"verdicts": [{"index": 1, "met": True, "rationale": "ok"}]}
    llm_server.respond_with(lambda _body: Reply.json(answer, delay=0.05))
    endpoint = EndpointConfig(base_url=llm_server.base_url, model="m", api_key_env=None)
    judge = Judge(JudgeConfig(endpoint, concurrency=4), engine=engine)  # chunks of 5, 10, 20, ..
    earlier = [JudgeItem("Dose?", f"Cached {i}.", RUBRIC) for i in range(10)]
    assert all(r.ok for r in judge.judge_many_sync(earlier))
    paid = len(llm_server.chat_requests)
    assert paid == 10

    items = [JudgeItem("Dose?", f"Response {i}.", RUBRIC) for i in range(60)]
    # Chunks [0, 5), [5, 15), [15, 35), [35, 60):
    items[40] = items[1]  # in the fourth, a repeat of an item of the first
    items[59] = items[30]  # in the fourth, a repeat of an item of the third
    items[20:30] = earlier  # in the third, items judged by the batch before
    results = judge.judge_many_sync(items)

    fresh = {i.response for i in items} - {i.response for i in earlier}
    assert len(llm_server.chat_requests) - paid == len(fresh) == 48
    assert [r.ok for r in results] == [True] * 60
    assert [n for n, r in enumerate(results) if r.cached] == [*range(20, 30), 40, 59]
    asked = [r.text for r in llm_server.chat_requests[paid:]]
    assert len({next(x for x in fresh if x in text) for text in asked}) == 48, "each once"


@pytest.mark.parametrize(
    "mode", [JudgeMode.explicit, JudgeMode.implicit, JudgeMode.reference_likert]
)
def test_cache_keys_are_those_llm_cache_already_holds(mode: JudgeMode) -> None:
    """Keys are built from parts (a shared rubric rendered once), but must stay the
    sha256 of the sorted JSON they always were, or every cached judgment is lost."""
    endpoint = EndpointConfig(base_url="http://127.0.0.1:9/v1", model="m", api_key_env=None)
    judge = Judge(JudgeConfig(endpoint, mode=mode))
    odd = 'Quote " backslash \\ NUL \x00 tab \t é 漢 \U0001f600 </response>'
    rubric = (*RUBRIC, CriterionData(odd, odd, Category.pitfall, -2.5))
    items = [
        JudgeItem("Dose?", "Response.", RUBRIC),
        JudgeItem(odd, odd, rubric, reference_answer=odd),
        JudgeItem("", "", rubric, reference_answer=None),
    ]
    for item in items:
        criteria = item.criteria if mode is not JudgeMode.reference_likert else []
        payload = {
            "judge": json.dumps(judge.config.fingerprint(), sort_keys=True),
            "prompt": item.prompt,
            "response": item.response,
            "criteria": [c.canonical() for c in criteria],
            "reference": item.reference_answer if mode is JudgeMode.reference_likert else None,
        }
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False)
        assert judge.cache_key(item) == hashlib.sha256(blob.encode()).hexdigest()


def _two_batches_on_one_loop(judge: Judge) -> None:
    async def both() -> None:
        for batch in range(2):
            items = [JudgeItem("Dose?", f"Batch {batch}, response {i}.", RUBRIC) for i in range(6)]
            assert all(r.ok for r in await judge.judge_many(items))

    asyncio.run(both())


def test_kept_clients_reuse_their_connections_from_batch_to_batch(
    llm_server: ScriptedLLM, caplog: pytest.LogCaptureFixture
) -> None:
    """As the trainer's judges run every step's batch on TRL's one loop: the second
    batch goes out on the first one's connections, and asyncio.run's end closes them."""
    answer = {"verdicts": [{"index": 1, "met": True, "rationale": "ok"}]}
    llm_server.respond_with(lambda _body: Reply.json(answer, delay=0.05))
    endpoint = EndpointConfig(base_url=llm_server.base_url, model="m", api_key_env=None)

    _two_batches_on_one_loop(Judge(JudgeConfig(endpoint, concurrency=2)))
    first, second = llm_server.chat_requests[:6], llm_server.chat_requests[6:]
    assert not {r.peer for r in first} & {r.peer for r in second}, "a client per batch"

    kept = Judge(JudgeConfig(endpoint, concurrency=2), keep_clients=True)
    _two_batches_on_one_loop(kept)
    peers = [r.peer for r in llm_server.chat_requests[12:]]
    assert len(peers) == 12 and len(set(peers)) <= 2, "one client, at most 2 connections"
    assert not kept._clients._kept, "closed and dropped when its loop shut down"
    gc.collect()
    assert "Unclosed" not in caplog.text


def test_kept_clients_close_when_a_long_lived_loop_shuts_down(llm_server: ScriptedLLM) -> None:
    """TRL's reward loop runs in a daemon thread and is only stopped: the trainer
    first shuts down its async generators (trainer/run.py), which closes the client."""
    answer = {"verdicts": [{"index": 1, "met": True, "rationale": "ok"}]}
    llm_server.respond_with(lambda _body: Reply.json(answer))
    endpoint = EndpointConfig(base_url=llm_server.base_url, model="m", api_key_env=None)
    judge = Judge(JudgeConfig(endpoint, concurrency=2), keep_clients=True)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        items = [JudgeItem("Dose?", f"Response {i}.", RUBRIC) for i in range(4)]
        for _step in range(3):
            done = asyncio.run_coroutine_threadsafe(judge.judge_many(items), loop).result(10)
            assert all(r.ok for r in done)
        ((client, _closer),) = judge._clients._kept.values()
        assert len({r.peer for r in llm_server.chat_requests}) <= 2
        assert not client._openai.is_closed()
        asyncio.run_coroutine_threadsafe(loop.shutdown_asyncgens(), loop).result(10)
        assert client._openai.is_closed() and not judge._clients._kept
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
