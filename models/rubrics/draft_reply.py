"""The drafting reply's schema and its criteria: what a model must return when it
drafts a rubric (7-20 RaR items), and how an item becomes a criterion with flags
(the category prefix, polarity, and NULs replaced). Pure: no I/O."""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from rubricforge.models.core.text_safety import NUL_REPLACED_FLAG, clean_text
from rubricforge.models.rubrics.criteria import (
    CriterionData,
    category_from_weight,
    polarity_flags,
    split_prefix,
)

FLAG_NO_PREFIX = "draft:no_category_prefix"
FLAG_PREFIX_MISMATCH = "draft:prefix_disagrees_with_weight"


class DraftItem(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    weight: float = Field(ge=-2, le=5)

    @field_validator("weight")
    @classmethod
    def _nonzero(cls, weight: float) -> float:
        if weight == 0:
            raise ValueError("weight 0 counts for nothing; use 1 to 5, or -1/-2 for a pitfall")
        return weight

    @model_validator(mode="after")
    def _body_after_prefix(self) -> DraftItem:
        if not split_prefix(self.description)[1]:
            raise ValueError("description has a category prefix but nothing to check")
        return self


class DraftReply(BaseModel):
    """What the model must return: 7-20 RaR rubric items."""

    model_config = ConfigDict(extra="forbid")

    criteria: list[DraftItem] = Field(min_length=7, max_length=20)


def to_criteria(reply: DraftReply) -> tuple[list[CriterionData], list[list[str]]]:
    """Criteria and, per criterion, its flags (polarity, and where the category came from).

    The weight decides the category when the prefix is missing or disagrees with it
    (e.g. "Essential Criteria" with weight -2); the flag records that, so the
    expert sees it instead of a silent fix. A NUL in the reply (PostgreSQL cannot
    store it) becomes U+FFFD, flagged `text:nul_replaced`.
    """
    criteria: list[CriterionData] = []
    flags: list[list[str]] = []
    for item in reply.criteria:
        title, nul_title = clean_text(item.title)
        description, nul_description = clean_text(item.description)
        prefixed, body = split_prefix(description)
        by_weight = category_from_weight(item.weight)
        extra: list[str] = [NUL_REPLACED_FLAG] if nul_title or nul_description else []
        if prefixed is None:
            extra.append(FLAG_NO_PREFIX)
        elif prefixed is not by_weight:
            extra.append(f"{FLAG_PREFIX_MISMATCH}:{prefixed.value}")
        criteria.append(
            CriterionData(
                title=title,
                description=body,
                category=by_weight,
                weight=float(item.weight),
                key=_new_key(),
            )
        )
        flags.append(polarity_flags(title, body, item.weight) + extra)
    return criteria, flags


def _new_key() -> str:
    """A fresh criterion key, as CriterionData makes them (16 hex digits). Not uuid4:
    its os.urandom call costs more than the rest of a draft's parsing together."""
    return f"{random.getrandbits(64):016x}"
