"""What the judge does with a reply: ask for it (counting what every attempt cost),
insist on one verdict per criterion, and clean the rationales before they are
cached and stored."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel, create_model, model_validator
from rubricforge.models.core.errors import LLMReplyError
from rubricforge.models.core.limits import MAX_RATIONALE, cap_text
from rubricforge.models.core.text_safety import clean_text
from rubricforge.models.judging import prompts as jp
from rubricforge.models.llm.client import LLMClient, TokenUsage


def clean_verdicts(verdicts: list[list[Any]]) -> dict[str, Any]:
    """The verdicts payload (cached, then stored) with NULs in rationales replaced
    (PostgreSQL cannot store them), and how many were, so the run records it."""
    replaced = 0
    for v in verdicts:
        text, had = clean_text(v[1])
        v[1] = rationale(text)
        replaced += had
    payload: dict[str, Any] = {"verdicts": verdicts}
    if replaced:
        payload["nul_replaced"] = replaced
    return payload


async def ask(client: LLMClient, messages: Any, schema: type[Any], usage: TokenUsage) -> Any:
    """client.complete_json, adding what it cost to `usage`: every attempt was paid
    for, so a reply that stayed invalid adds its tokens too."""
    try:
        reply, spent = await client.complete_json(messages, schema)
    except LLMReplyError as exc:
        usage.add(TokenUsage(prompt_tokens=exc.tokens_in, completion_tokens=exc.tokens_out))
        raise
    usage.add(spent)
    return reply


def rationale(text: str) -> str:
    """A judge's rationale as stored: capped, so one runaway reply cannot fill the
    database (the marker says how much was cut)."""
    return cap_text(text, MAX_RATIONALE)


@lru_cache(maxsize=64)
def explicit_schema(n: int) -> type[BaseModel]:
    """ExplicitReply that also insists on exactly one verdict per criterion 1..n,
    so a short or duplicated list is re-asked like any other schema break."""

    def _complete(self: Any) -> Any:
        jp.check_explicit(self, n)
        return self

    return create_model(
        "ExplicitVerdicts",
        __base__=jp.ExplicitReply,
        __validators__={"complete": model_validator(mode="after")(_complete)},  # type: ignore[dict-item]
    )
