"""The judge engine: an LLM checks a response against a rubric.

Shared by the app, the CLI and the trainer (no Streamlit, no torch). Modes:
explicit (a met/not-met verdict per criterion, all criteria in one call by
default or one call per criterion), implicit (one 1-10 rating from the whole
rubric) and the Likert baselines without a rubric. Rewards follow RaR
(models/judging/rewards.py). A reply that stays invalid after the client's re-asks is a
failed judgment (ok=False, reward None), never a silent default. Identical
calls are served from the Postgres cache (llm_cache).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from rubricforge.models.core.errors import LLMReplyError, LLMRequestError
from rubricforge.models.core.gc_pause import old_objects_frozen
from rubricforge.models.judging import prompts as jp
from rubricforge.models.judging.batching import WRITE_BATCH, LoopClients, chunks, ready_ahead
from rubricforge.models.judging.orm import JudgeMode, LLMCache
from rubricforge.models.judging.replies import ask, clean_verdicts, explicit_schema, rationale
from rubricforge.models.judging.results import JudgeItem, JudgeResult, VerdictResult
from rubricforge.models.judging.rewards import PRESETS, Aggregation, RewardPreset, aggregate
from rubricforge.models.llm.client import LLMClient, TokenUsage
from rubricforge.models.llm.config import EndpointConfig
from rubricforge.models.rubrics.criteria import CriterionData
from rubricforge.models.rubrics.orm import Category
from sqlalchemy import ARRAY, Engine, String, any_, bindparam, select
from sqlalchemy.dialects.postgresql import insert
from tqdm import tqdm


@dataclass(frozen=True)
class JudgeConfig:
    endpoint: EndpointConfig
    mode: JudgeMode = JudgeMode.explicit
    # Explicit mode only: how verdicts become a reward.
    aggregation: Aggregation = Aggregation.rar_explicit
    per_criterion: bool = False
    concurrency: int = 16
    # Explicit mode: weights from this per-category map (signed by the rubric's
    # weights) instead of the rubric's own; pairs, so the config stays hashable.
    category_map: tuple[tuple[Category, float], ...] | None = None
    # Explicit mode: judge every item against the predefined generic rubric.
    predefined: bool = False

    @classmethod
    def for_preset(
        cls,
        endpoint: EndpointConfig,
        preset: RewardPreset,
        *,
        per_criterion: bool = False,
        concurrency: int = 16,
    ) -> JudgeConfig:
        """The judge a reward preset asks for (models/judging/rewards.py PRESETS)."""
        rule = PRESETS[preset]
        return cls(
            endpoint=endpoint,
            mode=rule.mode,
            aggregation=rule.aggregation,
            per_criterion=per_criterion and rule.verdicts,
            concurrency=concurrency,
            category_map=tuple(rule.category_map.items()) if rule.category_map else None,
            predefined=rule.rubric == "predefined",
        )

    @property
    def template_hash(self) -> str:
        return jp.template_hash(self.mode, self.per_criterion, self.predefined)

    def fingerprint(self) -> dict[str, Any]:
        """What makes two calls identical, besides the item (aggregation and the
        category map are not: the reward is recomputed from the cached verdicts)."""
        ep = self.endpoint
        return {
            "base_url": ep.base_url,
            "model": ep.model,
            "temperature": ep.temperature,
            "max_tokens": ep.max_tokens,
            "mode": self.mode.value,
            "per_criterion": self.per_criterion,
            "template": self.template_hash,
        }


_dumps = functools.partial(json.dumps, ensure_ascii=False)


class Judge:
    def __init__(
        self, config: JudgeConfig, *, engine: Engine | None = None, keep_clients: bool = False
    ):
        """`keep_clients`: batches on one event loop share one client and its
        connections (the trainer's, whose steps all run on TRL's loop; batching.LoopClients)."""
        self.config = config
        self.engine = engine
        self._clients = LoopClients() if keep_clients else None
        self.template_hash = config.template_hash
        self._fingerprint = json.dumps(config.fingerprint(), sort_keys=True)
        self._judge_json = _dumps(self._fingerprint)

    def criteria_for(self, item: JudgeItem) -> Sequence[CriterionData]:
        """The criteria the judge checks: the predefined rubric, or the item's own."""
        return jp.PREDEFINED_RUBRIC if self.config.predefined else item.criteria

    # --- cache ---------------------------------------------------------------
    def cache_key(self, item: JudgeItem) -> str:
        return self._key(item, {})

    def _key(self, item: JudgeItem, rendered: dict[int, str]) -> str:
        """sha256 of the text json.dumps(payload, sort_keys=True, ensure_ascii=False)
        gives for {criteria, judge, prompt, reference, response}, built from its parts:
        a rubric shared by a batch's items (`rendered`, by identity) is rendered once.
        The text must not change: it keys what llm_cache already holds."""
        mode = self.config.mode
        criteria = (
            self.criteria_for(item) if mode in (JudgeMode.explicit, JudgeMode.implicit) else ()
        )
        crit = rendered.get(id(criteria))
        if crit is None:
            crit = rendered[id(criteria)] = _dumps([c.canonical() for c in criteria])
        ref = item.reference_answer if mode is JudgeMode.reference_likert else None
        blob = (
            f'{{"criteria": {crit}, "judge": {self._judge_json}, "prompt": {_dumps(item.prompt)}, '
            f'"reference": {_dumps(ref)}, "response": {_dumps(item.response)}}}'
        )
        return hashlib.sha256(blob.encode()).hexdigest()

    def _cache_get(self, keys: list[str]) -> dict[str, Any]:
        if self.engine is None or not keys:
            return {}
        # One array parameter (key = ANY(:keys)), not an IN list of thousands of
        # parameters to render and bind.
        wanted = LLMCache.key == any_(bindparam("keys", keys, type_=ARRAY(String)))
        with self.engine.connect() as conn:
            # Core rows of the two columns used, not ORM objects: no session here.
            rows = conn.execute(select(LLMCache.key, LLMCache.payload).where(wanted)).all()
        return {r.key: r for r in rows}

    def _cache_put(self, rows: list[dict[str, Any]]) -> None:
        if self.engine is None or not rows:
            return
        with self.engine.begin() as conn:
            # executemany (batched by SQLAlchemy's insertmanyvalues), not one VALUES
            # clause of every row compiled in Python.
            conn.execute(insert(LLMCache).on_conflict_do_nothing(), rows)

    # --- judging -------------------------------------------------------------
    async def judge_many(
        self, items: Sequence[JudgeItem], progress: bool = False
    ) -> list[JudgeResult]:
        """Judge every item concurrently (bounded); results in the items' order."""
        with old_objects_frozen():  # no full collection stalls the batch (gc_pause)
            return await self._judge_many(items, progress)

    async def _judge_many(self, items: Sequence[JudgeItem], progress: bool) -> list[JudgeResult]:
        cfg = self.config
        keys: list[str] = []
        first: dict[str, int] = {}
        results: dict[str, JudgeResult] = {}
        todo: dict[str, JudgeItem] = {}
        # The total drops as chunks turn out cached: it ends at the judgments paid for.
        bar = tqdm(total=len(items), desc="judging", unit="resp", disable=not progress)
        fresh: list[dict[str, Any]] = []

        # Items start as requests free up, not all at once: 2,000 tasks building
        # their prompts up front would hold the loop while the first requests'
        # replies wait to be read. A few more than the client's slots are ready, so
        # a freed slot's next request goes out at once (the client bounds the
        # requests in flight; a judgment's latency leaves out its wait for a slot).
        ready = cfg.concurrency + ready_ahead(cfg.concurrency)
        started = asyncio.Semaphore(ready)

        async def one(client: LLMClient, key: str, item: JudgeItem) -> None:
            async with started:
                result, payload = await self._call(client, item)
            results[key] = result
            if payload is not None:
                fresh.append(
                    {
                        "key": key,
                        "kind": f"judge:{cfg.mode.value}",
                        "payload": payload,
                        "tokens_in": result.tokens_in,
                        "tokens_out": result.tokens_out,
                    }
                )
                if len(fresh) >= WRITE_BATCH and (not writes or writes[-1].done()):
                    write()
            bar.update()

        # Cache rows are written in batches while later judgments are still out
        # (one write at a time), so the batch does not end on one long INSERT.
        writes: list[asyncio.Future[None]] = []

        def write() -> None:
            rows = fresh[:]
            fresh.clear()
            writes.append(asyncio.ensure_future(asyncio.to_thread(self._cache_put, rows)))

        # Keys are hashed and looked up in growing chunks: the first requests go
        # out once the first `ready` items are looked up (not after every key of
        # a large batch), and later chunks are looked up while those are out.
        client: LLMClient | None = None
        tasks: list[asyncio.Future[None]] = []
        rendered: dict[int, str] = {}  # the items (and their rubrics) outlive it
        try:
            for lo, hi in chunks(len(items), ready):
                new = []
                for n in range(lo, hi):
                    key = self._key(items[n], rendered)
                    keys.append(key)
                    if key not in first:  # identical items in one batch are paid once
                        first[key] = n
                        new.append(key)
                lookup = asyncio.ensure_future(asyncio.to_thread(self._cache_get, sorted(new)))
                if client is None:  # built (or taken) while the first lookup runs
                    client = (
                        await self._clients.get(self._new_client)
                        if self._clients is not None
                        else self._new_client()
                    )
                hits = await lookup
                for key in new:
                    item = items[first[key]]
                    if key in hits:
                        results[key] = self._result(
                            item, hits[key].payload, TokenUsage(), 0, cached=True
                        )
                    else:
                        todo[key] = item
                        tasks.append(asyncio.ensure_future(one(client, key, item)))
                bar.total -= hi - lo - (len(new) - len(hits))
                bar.refresh()
            await asyncio.gather(*tasks)
        except BaseException:  # a lookup failed, or we were cancelled: stop what is out
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            if client is not None and self._clients is None:
                await client.aclose()
        bar.close()
        write()
        await asyncio.gather(*writes)
        out = []
        for n, (key, item) in enumerate(zip(keys, items, strict=True)):
            r = results[key]
            # A duplicate within the batch was paid once; report it as cached.
            if r.ok and key in todo and first[key] != n:
                r = self._result(item, self._payload_of(r), TokenUsage(), 0, cached=True)
            out.append(r)
        return out

    def _new_client(self) -> LLMClient:
        return LLMClient(self.config.endpoint, concurrency=self.config.concurrency)

    def judge_many_sync(
        self, items: Sequence[JudgeItem], progress: bool = False
    ) -> list[JudgeResult]:
        return asyncio.run(self.judge_many(items, progress=progress))

    async def _call(
        self, client: LLMClient, item: JudgeItem
    ) -> tuple[JudgeResult, dict[str, Any] | None]:
        cfg, start = self.config, time.monotonic()
        usage = TokenUsage()
        item = replace(item, criteria=self.criteria_for(item))
        try:
            if cfg.mode in (JudgeMode.explicit, JudgeMode.implicit) and not item.criteria:
                raise ValueError(f"{cfg.mode.value} judging needs a rubric with criteria")
            if cfg.mode is JudgeMode.explicit:
                payload = await self._explicit(client, item, usage)
            else:
                payload = await self._rating(client, item, usage)
        except (LLMReplyError, LLMRequestError, ValueError) as exc:
            ms = int((time.monotonic() - start) * 1000)
            failed = JudgeResult(
                ok=False,
                reward=None,
                error=str(exc),
                latency_ms=ms,
                tokens_in=usage.prompt_tokens,
                tokens_out=usage.completion_tokens,
            )
            if cfg.mode is JudgeMode.explicit:
                failed.verdicts = [VerdictResult(None, "", False) for _ in item.criteria]
            return failed, None
        # Parallel per-criterion calls wait side by side: their waits do not add up.
        queued = 0.0 if cfg.per_criterion else usage.queued_s
        ms = int((time.monotonic() - start - queued) * 1000)
        return self._result(item, payload, usage, ms, cached=False), payload

    async def _explicit(
        self, client: LLMClient, item: JudgeItem, usage: TokenUsage
    ) -> dict[str, Any]:
        if self.config.per_criterion:
            # Every call runs to its end, so the spend of each is counted even when one fails.
            outcomes = await asyncio.gather(
                *(
                    ask(
                        client,
                        jp.single_messages(item.prompt, item.response, c),
                        jp.SingleReply,
                        usage,
                    )
                    for c in item.criteria
                ),
                return_exceptions=True,
            )
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    raise outcome
            return clean_verdicts([[r.met, r.rationale] for r in outcomes])  # type: ignore[union-attr]
        messages = jp.explicit_messages(item.prompt, item.response, item.criteria)
        reply = await ask(client, messages, explicit_schema(len(item.criteria)), usage)
        verdicts = jp.check_explicit(reply, len(item.criteria))  # type: ignore[arg-type]
        return clean_verdicts([[v.met, v.rationale] for v in verdicts])

    async def _rating(
        self, client: LLMClient, item: JudgeItem, usage: TokenUsage
    ) -> dict[str, Any]:
        mode = self.config.mode
        if mode is JudgeMode.implicit:
            messages = jp.implicit_messages(item.prompt, item.response, item.criteria)
        else:
            ref = item.reference_answer if mode is JudgeMode.reference_likert else None
            if mode is JudgeMode.reference_likert and not ref:
                raise ValueError("reference-Likert judging needs the prompt's reference answer")
            messages = jp.likert_messages(item.prompt, item.response, ref)
        reply = await ask(client, messages, jp.RatingReply, usage)
        return {"rating": reply.rating}

    def _result(
        self, item: JudgeItem, payload: dict[str, Any], usage: TokenUsage, ms: int, *, cached: bool
    ) -> JudgeResult:
        base: dict[str, Any] = dict(
            tokens_in=usage.prompt_tokens,
            tokens_out=usage.completion_tokens,
            latency_ms=ms,
            cached=cached,
        )
        if "rating" in payload:
            rating = float(payload["rating"])
            reward = aggregate(self.config.aggregation, rating=rating)
            return JudgeResult(ok=True, reward=reward, rating=rating, **base)
        base["nul_replaced"] = int(payload.get("nul_replaced", 0))
        met = [bool(m) for m, _ in payload["verdicts"]]
        verdicts = [
            VerdictResult(m, rationale(str(r)), True)
            for m, (_, r) in zip(met, payload["verdicts"], strict=True)
        ]
        criteria = self.criteria_for(item)
        category_map = dict(self.config.category_map) if self.config.category_map else None
        reward = aggregate(
            self.config.aggregation,
            [c.weight for c in criteria],
            met,
            categories=[c.category for c in criteria],
            category_map=category_map,
        )
        return JudgeResult(ok=True, reward=reward, verdicts=verdicts, **base)  # type: ignore[arg-type]

    @staticmethod
    def _payload_of(r: JudgeResult) -> dict[str, Any]:
        if r.rating is not None:
            return {"rating": r.rating}
        return {"verdicts": [[v.met, v.rationale] for v in r.verdicts]}
