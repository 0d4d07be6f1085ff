"""The row shapes an import file may hold, as pydantic-validated TypedDicts:
RaR (question, reference_answer, rubric) and HealthBench (prompt, rubrics).
Weights and criteria counts are bounded by `models.rubrics.criteria`'s one rule.
Pure: no I/O."""

from __future__ import annotations

import json
from typing import Annotated, NotRequired, TypeVar

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
)
from rubricforge.models.rubrics.criteria import count_problem, weight_problem
from typing_extensions import TypedDict

T = TypeVar("T")


def _json_cell(value: object) -> object:
    """CSV cells (and some Parquet files) hold lists and objects as JSON strings."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ValueError(f"not valid JSON ({exc})") from None
        except RecursionError:
            raise ValueError("not valid JSON (nested too deeply)") from None
    return value


def _blank_to_none(value: object) -> object:
    """An empty CSV cell means the optional field is absent."""
    return None if isinstance(value, str) and not value.strip() else value


def _id_to_str(value: object) -> object:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _bounded_weight(weight: float) -> float:
    """The one weight rule (`criteria.weight_problem`), as the editor and drafting apply it."""
    problem = weight_problem(weight)
    if problem:
        raise ValueError(problem)
    return weight


def _bounded_count(items: list[T]) -> list[T]:
    problem = count_problem(len(items))
    if problem:
        raise ValueError(problem)
    return items


JsonCell = Annotated[T, BeforeValidator(_json_cell)]
Opt = Annotated[T | None, BeforeValidator(_blank_to_none)]
NonBlank = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Weight = Annotated[float, Field(strict=True, allow_inf_nan=False), AfterValidator(_bounded_weight)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
ExternalId = Annotated[
    str, BeforeValidator(_id_to_str), StringConstraints(strip_whitespace=True, max_length=200)
]


# Row shapes as TypedDicts: pydantic validates them about five times faster
# than BaseModels, which is most of the parse time at 300k criteria.
class RaRItem(TypedDict):
    title: NonBlank
    description: NonBlank
    weight: Weight
    category: NotRequired[Opt[str]]


class RaRRow(TypedDict):
    # Unknown top-level fields are kept (in Prompt.meta), never dropped.
    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]
    uid: NotRequired[Opt[ExternalId]]
    domain: NotRequired[Opt[str]]
    question_source: NotRequired[Opt[Annotated[str, StringConstraints(max_length=300)]]]
    question: NonBlank
    reference_answer: str
    rubric: JsonCell[Annotated[list[RaRItem], Field(min_length=1), AfterValidator(_bounded_count)]]
    rubric_list: NotRequired[Opt[JsonCell[list[str]]]]
    rubric_count: NotRequired[Opt[int]]


class Message(TypedDict):
    role: NonBlank
    content: str


class HealthBenchItem(TypedDict):
    criterion: NonBlank
    points: Weight
    tags: NotRequired[list[Tag]]


class IdealCompletions(TypedDict):
    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]
    ideal_completion: NotRequired[str | None]
    ideal_completions_group: NotRequired[str | None]


class HealthBenchRow(TypedDict):
    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]
    prompt_id: NotRequired[Opt[ExternalId]]
    prompt: JsonCell[Annotated[list[Message], Field(min_length=1)]]
    rubrics: JsonCell[
        Annotated[list[HealthBenchItem], Field(min_length=1), AfterValidator(_bounded_count)]
    ]
    example_tags: NotRequired[Opt[JsonCell[list[Tag]]]]
    ideal_completions_data: NotRequired[Opt[JsonCell[IdealCompletions]]]


RAR_ROW = TypeAdapter(RaRRow)
HB_ROW = TypeAdapter(HealthBenchRow)
