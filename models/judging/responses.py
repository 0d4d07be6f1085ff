"""Responses to judge: imported from a JSONL file, or sampled from a policy endpoint."""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from rubricforge.models.accounts.permissions import Action, UserInfo, require
from rubricforge.models.core.audit import audit
from rubricforge.models.core.db import session_scope
from rubricforge.models.core.errors import ImportFileError, LLMError, NotFoundError
from rubricforge.models.core.text_safety import clean_text, scrub
from rubricforge.models.judging.orm import UNKNOWN_AUTHOR, Response
from rubricforge.models.llm.client import LLMClient
from rubricforge.models.llm.config import EndpointConfig
from rubricforge.models.rubrics.orm import Dataset, Prompt
from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert
from tqdm import tqdm


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class ResponseRow(BaseModel):
    """One JSONL line: the prompt's external id, the response text, where it came from,
    and the model that wrote it (`author_model`; a line's `model` counts as both its
    source and its author; neither: "unknown")."""

    model_config = ConfigDict(extra="allow")
    prompt_id: str = Field(min_length=1)
    text: str = Field(min_length=1)
    source: str = Field(min_length=1, max_length=200)
    author_model: str = Field(default=UNKNOWN_AUTHOR, min_length=1, max_length=200)

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: object) -> object:
        if isinstance(data, dict):
            data = dict(data)
            if "author_model" not in data and isinstance(data.get("model"), str):
                data["author_model"] = data["model"]
            for alias, name in (
                ("external_id", "prompt_id"),
                ("uid", "prompt_id"),
                ("response", "text"),
                ("model", "source"),
            ):
                if name not in data and alias in data:
                    data[name] = data.pop(alias)
            if isinstance(data.get("prompt_id"), int):
                data["prompt_id"] = str(data["prompt_id"])
        return data


@dataclass
class ResponsesResult:
    dataset: str
    added: int = 0
    unchanged: int = 0
    sources: dict[str, int] = field(default_factory=dict)
    nul_replaced: list[int] = field(default_factory=list)  # lines (or samples) with NULs

    def summary(self) -> str:
        by = ", ".join(f"{k}: {v}" for k, v in sorted(self.sources.items()))
        text = (
            f"{self.dataset}: {self.added} responses added, {self.unchanged} already there ({by})"
        )
        if self.nul_replaced:
            text += (
                f"; {len(self.nul_replaced)} held NUL characters, stored as U+FFFD "
                f"(meta.text_replaced): {', '.join(map(str, self.nul_replaced[:20]))}"
            )
        return text


TEXT_REPLACED = "NUL characters replaced with U+FFFD"


def _replaced_note(replaced: bool) -> dict[str, str]:
    return {"text_replaced": TEXT_REPLACED} if replaced else {}


def _prompt_ids(engine: Engine, dataset: str) -> dict[str, int]:
    with engine.connect() as conn:
        ds = conn.execute(select(Dataset.id).where(Dataset.name == dataset)).scalar()
        if ds is None:
            raise NotFoundError(f"no dataset named '{dataset}'; import its prompts first")
        rows = conn.execute(select(Prompt.external_id, Prompt.id).where(Prompt.dataset_id == ds))
        return {ext: pid for ext, pid in rows}


def import_responses(
    engine: Engine, path: Path, dataset: str, *, actor: UserInfo
) -> ResponsesResult:
    """All or nothing: every bad line is reported by number and nothing is written."""
    require(actor, Action.import_data)
    prompts = _prompt_ids(engine, dataset)
    rows: list[ResponseRow] = []
    problems: list[tuple[int, str]] = []
    nul_lines: dict[int, int] = {}  # index in rows -> line
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFileError(str(path), [(0, f"cannot read the file: {exc}")]) from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data, replaced = scrub(json.loads(line.replace("\x00", "\ufffd")))
            row = ResponseRow.model_validate(data)
        except json.JSONDecodeError as exc:
            problems.append((n, f"not valid JSON ({exc.msg})"))
            continue
        except RecursionError:
            problems.append((n, "not valid JSON (nested too deeply)"))
            continue
        except ValidationError as exc:
            err = exc.errors()[0]
            problems.append((n, f"{'.'.join(map(str, err['loc'])) or 'row'}: {err['msg']}"))
            continue
        if row.prompt_id not in prompts:
            problems.append((n, f"prompt '{row.prompt_id}' is not in dataset '{dataset}'"))
            continue
        if replaced or "\x00" in line:
            nul_lines[len(rows)] = n
        rows.append(row)
    if not rows and not problems:
        problems.append((0, "the file has no responses"))
    if problems:
        raise ImportFileError(str(path), problems)
    result = ResponsesResult(dataset, nul_replaced=sorted(nul_lines.values()))
    values = [
        {
            "prompt_id": prompts[r.prompt_id],
            "text": r.text,
            "source": r.source,
            "author_model": r.author_model,
            "content_hash": content_hash(r.text),
            "meta": {
                **(r.model_extra or {}),
                **({"text_replaced": TEXT_REPLACED} if i in nul_lines else {}),
            },
        }
        for i, r in enumerate(rows)
    ]
    with session_scope(engine) as s:
        added = 0
        for start in range(0, len(values), 1000):
            res = s.execute(
                insert(Response)
                .values(values[start : start + 1000])
                .on_conflict_do_nothing()
                .returning(Response.id)
            )
            added += len(res.all())
        result.added, result.unchanged = added, len(values) - added
        for r in rows:
            result.sources[r.source] = result.sources.get(r.source, 0) + 1
        if added:
            audit(
                s,
                actor=actor.username,
                user_id=actor.id,
                action="responses.import",
                entity="dataset",
                entity_id=dataset,
                details={"added": added, "file": str(path)},
            )
    return result


def generate_responses(
    engine: Engine,
    dataset: str,
    endpoint: EndpointConfig,
    *,
    n: int = 1,
    concurrency: int = 8,
    actor: UserInfo,
    progress: bool = False,
) -> ResponsesResult:
    """Sample n responses per prompt from a policy endpoint and store them (source = model)."""
    require(actor, Action.import_data)
    if n < 1:
        raise LLMError("n must be at least 1")
    with engine.connect() as conn:
        prompts = conn.execute(
            select(Prompt.id, Prompt.question, Prompt.messages)
            .join(Dataset, Dataset.id == Prompt.dataset_id)
            .where(Dataset.name == dataset)
            .order_by(Prompt.id)
        ).all()
    if not prompts:
        raise NotFoundError(f"no prompts in dataset '{dataset}'")

    async def sample() -> list[tuple[int, str]]:
        bar = tqdm(total=len(prompts) * n, desc="generating", disable=not progress)
        async with LLMClient(endpoint, concurrency=concurrency) as client:

            async def one(pid: int, question: str, messages: list | None) -> tuple[int, str]:
                convo = messages or [{"role": "user", "content": question}]
                reply = await client.chat(convo)
                bar.update()
                return pid, reply.content or ""

            out = await asyncio.gather(*(one(p, q, m) for p, q, m in prompts for _ in range(n)))
        bar.close()
        return out

    replies = [(pid, *clean_text(text)) for pid, text in asyncio.run(sample())]
    samples = [(pid, text, nul) for pid, text, nul in replies if text.strip()]
    result = ResponsesResult(dataset, sources={endpoint.model: len(samples)})
    result.nul_replaced = [i for i, (_, _, nul) in enumerate(samples, 1) if nul]
    with session_scope(engine) as s:
        values = [
            {
                "prompt_id": pid,
                "text": text,
                "source": endpoint.model,
                "author_model": endpoint.model,
                "content_hash": content_hash(text),
                "meta": {"generated": True, **_replaced_note(nul)},
            }
            for pid, text, nul in samples
        ]
        if values:
            res = s.execute(
                insert(Response).values(values).on_conflict_do_nothing().returning(Response.id)
            )
            result.added = len(res.all())
        result.unchanged = len(samples) - result.added
        audit(
            s,
            actor=actor.username,
            user_id=actor.id,
            action="responses.generate",
            entity="dataset",
            entity_id=dataset,
            details={"model": endpoint.model, "added": result.added},
        )
    return result
