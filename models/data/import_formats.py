"""Reading import files (JSONL, CSV, Parquet) into validated prompts with rubrics.

Pure apart from reading the file (`models.data.import_reading`): no database.
Two row shapes are understood (`models.data.import_rows`), detected per file
from the first row:

- RaR, as published with the paper: question, reference_answer, question_source,
  rubric = [{title, description, weight}], rubric_list = the same criteria as
  "Essential Criteria: ..." strings, rubric_count; optional uid, domain.
- HealthBench: prompt_id, prompt = [{role, content}], rubrics = [{criterion,
  points, tags}], example_tags, ideal_completions_data.

Every bad row is collected with its line number (JSONL: physical line; CSV: row
number with the header as line 1; Parquet: row index + 1; 0: the whole file),
so one run tells the user everything to fix.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError as PydanticValidationError
from rubricforge.models.core.errors import ImportFileError
from rubricforge.models.core.text_safety import NUL_REPLACED_FLAG, REPLACEMENT
from rubricforge.models.data.import_reading import (
    NESTED_TOO_DEEPLY,
    SUFFIXES,
    expected_rows,
    progress_rows,
    read_rows,
)
from rubricforge.models.data.import_rows import HB_ROW, RAR_ROW, HealthBenchRow, RaRRow
from rubricforge.models.rubrics.criteria import (
    CriterionData,
    category_from_weight,
    is_flagged,
    parse_category,
    polarity_flags,
    split_prefix,
    stable_key,
)
from rubricforge.models.rubrics.orm import Category

Shape = Literal["rar", "healthbench"]
Problem = tuple[int, str]

TITLE_WORDS = 6  # HealthBench criteria have no title; RaR titles are 2-4 words
# "Critical Criteria: ..." has the RaR prefix form but names no category we know.
_ANY_PREFIX_RE = re.compile(r"^\s*([A-Za-z-]+)\s+Criteri(?:a|on)\s*:", re.I)


@dataclass(frozen=True, slots=True)
class ParsedPrompt:
    """One valid row, ready to write: what becomes a Prompt and its rubric version."""

    line: int
    external_id: str
    question: str
    reference_answer: str
    messages: list[dict[str, str]] | None
    source: str
    tags: list[str]
    meta: dict[str, Any]
    criteria: list[CriterionData]
    flags: list[list[str]]  # polarity flags per criterion, computed once

    @property
    def pitfalls_flagged(self) -> int:
        return sum(1 for f in self.flags if is_flagged(f))  # the count Prompts and Overview show


@dataclass
class ParsedFile:
    shape: Shape
    file_format: str
    prompts: list[ParsedPrompt] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    nul_lines: list[int] = field(default_factory=list)  # rows whose NULs were replaced


def parse_file(path: Path, dataset: str, *, progress: bool = False) -> ParsedFile:
    """Read and validate every row, streaming: a row is converted as it is read, so
    the raw rows are never all in memory. Raises ImportFileError for a file that
    cannot be read or has no rows; bad rows are returned in `problems` so the
    caller can add its own (e.g. conflicts with the database) and report them
    together. NUL characters are replaced (`nul_lines` says where)."""
    file_format = SUFFIXES.get(path.suffix.lower())
    if file_format is None:
        raise ImportFileError(
            str(path), [(0, f"unsupported file type '{path.suffix}': use .jsonl, .csv or .parquet")]
        )
    nul_lines: dict[int, int] = {}
    out: ParsedFile | None = None
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    try:
        total = expected_rows(path, file_format) if progress else None
        for line, raw in progress_rows(read_rows(path, file_format, nul_lines), progress, total):
            if isinstance(raw, str):  # the reader's own complaint about this line
                problems.append((line, raw))
                continue
            if out is None:
                out = ParsedFile(shape=_shape_of(path, line, raw), file_format=file_format)
            prompt = _convert(out.shape, line, raw, dataset, problems, line in nul_lines)
            if prompt is None:
                continue
            first = seen.setdefault(prompt.external_id, line)
            if first != line:
                problems.append(
                    (line, f"duplicate id '{prompt.external_id}' (first on line {first})")
                )
                continue
            out.prompts.append(prompt)
    except (OSError, UnicodeDecodeError, csv.Error, ValueError) as exc:
        # pyarrow's ArrowInvalid is a ValueError: a corrupt or non-Parquet file.
        raise ImportFileError(str(path), [(0, f"cannot read the file: {exc}")]) from None
    if out is None:
        # No row parsed at all: the per-line problems say why.
        raise ImportFileError(str(path), problems or [(0, "the file has no rows")])
    out.problems = problems
    out.nul_lines = sorted(nul_lines)
    return out


def _convert(
    shape: Shape,
    line: int,
    raw: dict[str, Any],
    dataset: str,
    problems: list[Problem],
    had_nul: bool,
) -> ParsedPrompt | None:
    try:
        prompt = _to_rar(line, raw, dataset) if shape == "rar" else _to_hb(line, raw, dataset)
    except PydanticValidationError as exc:
        problems.append((line, _describe(exc)))
        return None
    except ValueError as exc:
        problems.append((line, str(exc)))
        return None
    except RecursionError:
        problems.append((line, NESTED_TOO_DEEPLY))
        return None
    return _mark_replaced(prompt) if had_nul else prompt


def _mark_replaced(prompt: ParsedPrompt) -> ParsedPrompt:
    """A row whose NULs were replaced: its criteria with U+FFFD get the flag, and
    the prompt's meta says so (the editor and lint show both)."""
    flags = [
        [*f, NUL_REPLACED_FLAG] if REPLACEMENT in c.title + c.description else f
        for c, f in zip(prompt.criteria, prompt.flags, strict=True)
    ]
    meta = {**prompt.meta, "text_replaced": "NUL characters replaced with U+FFFD on import"}
    return dataclasses.replace(prompt, flags=flags, meta=meta)


def _shape_of(path: Path, line: int, raw: dict[str, Any]) -> Shape:
    """The file's row shape, from its first row that parsed."""
    if "rubrics" in raw and "prompt" in raw:
        return "healthbench"
    if "question" in raw or "rubric" in raw:
        return "rar"
    raise ImportFileError(
        str(path),
        [
            (
                line,
                "unknown row shape (fields: "
                + ", ".join(sorted(raw)[:12])
                + "); expected RaR rows (question, reference_answer, rubric) or "
                "HealthBench rows (prompt, rubrics)",
            )
        ],
    )


def _describe(exc: PydanticValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where.lstrip('.')}: {msg}" if where else msg)
    return "; ".join(parts)


# --- row shapes -> ParsedPrompt ----------------------------------------------


def question_id(question: str) -> str:
    """External id for rows without one: stable across re-imports of the same text."""
    return "q-" + hashlib.sha256(question.encode()).hexdigest()[:24]


def _category(text: str, where: str) -> Category:
    found = parse_category(text)
    if found is None:
        raise ValueError(
            f"{where}: unknown category '{text}' (use Essential, Important, Optional or Pitfall)"
        )
    return found


def _prefix_category(text: str, where: str) -> Category | None:
    """The category named by a RaR prefix; an unknown prefix is an error, no prefix is None."""
    m = _ANY_PREFIX_RE.match(text)
    return _category(m.group(1), where) if m else None


def criterion_keys(dataset: str, external_id: str, count: int, version: int = 1) -> list[str]:
    """Deterministic keys, so a re-import gives the same ones: one `stable_key`
    per rubric version plus the position (a hash per criterion was a tenth of a
    20k-prompt import)."""
    parts = (dataset, external_id) if version == 1 else (dataset, external_id, f"v{version}")
    base = stable_key(*parts)
    return [f"{base}-{position}" for position in range(count)]


def _criteria(
    items: Sequence[tuple[str, str, Category, float, tuple[str, ...]]], dataset: str, ext_id: str
) -> tuple[list[CriterionData], list[list[str]]]:
    criteria = [
        CriterionData(
            title=title,
            description=description,
            category=category,
            weight=weight,  # as published: a pitfall's sign is never flipped
            key=key,
            tags=tags,
        )
        for key, (title, description, category, weight, tags) in zip(
            criterion_keys(dataset, ext_id, len(items)), items, strict=True
        )
    ]
    flags = [polarity_flags(c.title, c.description, c.weight) for c in criteria]
    return criteria, flags


def _extras(row: dict[str, Any], shape: type) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in shape.__annotations__ and v is not None}


def _to_rar(line: int, raw: dict[str, Any], dataset: str) -> ParsedPrompt:
    row = RAR_ROW.validate_python(raw)
    rubric, rubric_list = row["rubric"], row.get("rubric_list")
    if rubric_list is not None and len(rubric_list) != len(rubric):
        raise ValueError(f"rubric_list has {len(rubric_list)} items but rubric has {len(rubric)}")
    count = row.get("rubric_count")
    if count is not None and count != len(rubric):
        raise ValueError(f"rubric_count is {count} but rubric has {len(rubric)}")
    items: list[tuple[str, str, Category, float, tuple[str, ...]]] = []
    for i, item in enumerate(rubric):
        description, weight = item["description"], item["weight"]
        category = None
        if rubric_list is not None:
            category = _prefix_category(rubric_list[i], f"rubric_list[{i}]")
        if category is None and item.get("category") is not None:
            category = _category(item["category"] or "", f"rubric[{i}].category")
        # Drafts sometimes keep the prefix in the description itself. Only a
        # known one is taken: "Rome IV criteria: ..." is plain text there.
        described, stripped = split_prefix(description)
        if described is not None:
            description = stripped
            if not description:
                raise ValueError(f"rubric[{i}].description: empty after its category prefix")
        category = category or described or category_from_weight(weight)
        items.append((item["title"], description, category, weight, ()))
    ext_id = row.get("uid") or question_id(row["question"])
    meta = _extras(row, RaRRow)  # type: ignore[arg-type]
    if row.get("domain"):
        meta["domain"] = row["domain"]
    criteria, flags = _criteria(items, dataset, ext_id)
    return ParsedPrompt(
        line=line,
        external_id=ext_id,
        question=row["question"],
        reference_answer=row["reference_answer"],
        messages=None,
        source=row.get("question_source") or "",
        tags=[],
        meta=meta,
        criteria=criteria,
        flags=flags,
    )


def short_title(text: str) -> str:
    """HealthBench criteria are one long sentence; the title is its first few words."""
    words = text.split()
    title = " ".join(words[:TITLE_WORDS]).rstrip(".,;:")
    return title + "…" if len(words) > TITLE_WORDS else title


def _to_hb(line: int, raw: dict[str, Any], dataset: str) -> ParsedPrompt:
    row = HB_ROW.validate_python(raw)
    users = [m["content"] for m in row["prompt"] if m["role"] == "user"]
    if not users or not users[-1].strip():
        raise ValueError("prompt: the conversation has no (non-empty) user message")
    question = users[-1]
    items = [
        (
            short_title(item["criterion"]),
            item["criterion"],
            category_from_weight(item["points"]),  # negative points -> Pitfall
            item["points"],
            tuple(item.get("tags", ())),
        )
        for item in row["rubrics"]
    ]
    ideal: Any = row.get("ideal_completions_data") or {}
    meta = _extras(row, HealthBenchRow)  # type: ignore[arg-type]
    if ideal.get("ideal_completions_group"):
        meta["ideal_completions_group"] = ideal["ideal_completions_group"]
    ext_id = row.get("prompt_id") or question_id(question)
    criteria, flags = _criteria(items, dataset, ext_id)
    return ParsedPrompt(
        line=line,
        external_id=ext_id,
        question=question,
        reference_answer=ideal.get("ideal_completion") or "",
        messages=[{"role": m["role"], "content": m["content"]} for m in row["prompt"]],
        source="",
        tags=list(row.get("example_tags") or []),
        meta=meta,
        criteria=criteria,
        flags=flags,
    )
