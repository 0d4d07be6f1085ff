"""The snapshot row: one typed record read in one place, shared by the exporter
(files and the sha256), the reward preview and the trainer's dataset.

A snapshot's sha256 is taken over `SnapshotRow.to_dict()` of its rows, in
order (`rows_sha256`): that dict is the canonical row, and its keys and shape
must not change, or every existing snapshot stops matching its hash. The
prompt id rides along for links (the editor's ?prompt=) but is not part of it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import groupby
from operator import itemgetter
from typing import Any

from rubricforge.models.core.db import session_scope
from rubricforge.models.core.errors import NotFoundError
from rubricforge.models.data.orm import ExportSnapshot, SnapshotItem
from rubricforge.models.rubrics.criteria import CriterionData, with_prefix
from rubricforge.models.rubrics.orm import Category, Criterion, Dataset, Prompt
from sqlalchemy import Engine, String, Subquery, func, select, type_coerce
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Message:
    role: str
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class RubricItem:
    title: str
    description: str
    category: Category
    weight: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "description": self.description,
            "category": self.category.value,
            "weight": self.weight,
        }


@dataclass(frozen=True)
class SnapshotRow:
    prompt_id: int
    uid: str
    dataset: str
    domain: str
    question_source: str | None
    question: str
    reference_answer: str | None
    # RaR prompts are one user turn; HealthBench prompts keep their conversation.
    messages: tuple[Message, ...]
    rubric: tuple[RubricItem, ...]

    @property
    def rubric_list(self) -> list[str]:
        """RaR's prefixed lines: "Essential Criteria: ..." per criterion."""
        return [with_prefix(c.category, c.description) for c in self.rubric]

    def chat(self) -> list[dict[str, str]]:
        return [m.to_dict() for m in self.messages]

    def rubric_column(self) -> list[dict[str, Any]]:
        return [c.to_dict() for c in self.rubric]

    def criteria(self) -> list[CriterionData]:
        return [CriterionData(c.title, c.description, c.category, c.weight) for c in self.rubric]

    def to_dict(self) -> dict[str, Any]:
        """The canonical row (what the sha256 is taken over, and the HF export's columns)."""
        return {
            "uid": self.uid,
            "dataset": self.dataset,
            "domain": self.domain,
            "question_source": self.question_source,
            "question": self.question,
            "reference_answer": self.reference_answer,
            "messages": self.chat(),
            "rubric": self.rubric_column(),
            "rubric_list": self.rubric_list,
            "rubric_count": len(self.rubric),
        }


def prompt_text(messages: Any) -> str:
    """A prompt or completion as the judge reads it: plain text as is, one message
    as its content, a conversation as "role: content" paragraphs."""
    if isinstance(messages, str):
        return messages
    if len(messages) == 1:
        return str(messages[0]["content"])
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)


def criteria_from_column(rubric: Sequence[Mapping[str, Any]]) -> tuple[CriterionData, ...]:
    """A `rubric` cell of an exported dataset (title, description, category, weight).

    Keys are positions: a cell has no editor identity to keep. Equal cells give the
    same tuple: TRL hands every generation its own copy of its prompt's rubric, and
    building 512 x 15 criteria per GRPO step cost ~15 ms."""
    return _criteria(
        tuple((c["title"], c["description"], c["category"], c["weight"]) for c in rubric)
    )


@lru_cache(maxsize=4096)
def _criteria(cells: tuple[tuple[Any, Any, Any, Any], ...]) -> tuple[CriterionData, ...]:
    return tuple(
        CriterionData(title, description, Category(category), float(weight), key=f"c{n}")
        for n, (title, description, category, weight) in enumerate(cells, 1)
    )


def rows_sha256(rows: Sequence[SnapshotRow]) -> str:
    """sha256 over the canonical rows as compact, key-sorted JSON lines, in order."""
    digest = hashlib.sha256()
    for row in rows:
        line = json.dumps(row.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest.update(line.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def snapshot_items(snapshot_id: int) -> Subquery:
    """(position, version_id, prompt_id) of a stored snapshot."""
    return (
        select(
            SnapshotItem.position,
            SnapshotItem.rubric_version_id.label("version_id"),
            SnapshotItem.prompt_id,
        )
        .where(SnapshotItem.snapshot_id == snapshot_id)
        .subquery()
    )


def read_rows(session: Session, selection: Subquery) -> list[SnapshotRow]:
    """The rows of a (position, version_id, prompt_id) selection, in position order:
    two set-based queries (prompts, then all criteria), joined here by position.
    Core rows, not ORM entities: at 20k rubrics x 15 criteria the ORM's per-row
    work would be most of the export's time."""
    conn = session.connection()
    prompts = conn.execute(
        select(
            selection.c.position,
            selection.c.prompt_id,
            Prompt.external_id,
            Dataset.name,
            func.coalesce(Prompt.meta["domain"].astext, Dataset.name),
            Prompt.source,
            Prompt.question,
            Prompt.reference_answer,
            Prompt.messages,
        )
        .join(Prompt, Prompt.id == selection.c.prompt_id)
        .join(Dataset, Dataset.id == Prompt.dataset_id)
        .order_by(selection.c.position)
    ).all()
    criteria = conn.execute(
        select(
            selection.c.position,
            Criterion.title,
            Criterion.description,
            type_coerce(Criterion.category, String),  # the plain value; no enum per row
            Criterion.weight,
        )
        .join(Criterion, Criterion.version_id == selection.c.version_id)
        .order_by(selection.c.position, Criterion.position)
    ).all()
    by_position = {pos: list(group) for pos, group in groupby(criteria, key=itemgetter(0))}
    categories = {c.value: c for c in Category}
    return [
        SnapshotRow(
            prompt_id=prompt_id,
            uid=uid,
            dataset=dataset,
            domain=domain,
            question_source=source,
            question=question,
            reference_answer=reference,
            messages=(
                tuple(Message(m["role"], m["content"]) for m in messages)
                if messages
                else (Message("user", question),)
            ),
            rubric=tuple(
                RubricItem(t, d, categories[c], w) for _, t, d, c, w in by_position.get(pos, [])
            ),
        )
        for pos, prompt_id, uid, dataset, domain, source, question, reference, messages in prompts
    ]


def get_snapshot(session: Session, snapshot_id: int) -> ExportSnapshot:
    snap = session.get(ExportSnapshot, snapshot_id)
    if snap is None:
        raise NotFoundError(f"export snapshot {snapshot_id} does not exist")
    return snap


def load_snapshot_rows(engine: Engine, snapshot_id: int) -> list[SnapshotRow]:
    """The snapshot's rows, in snapshot order."""
    with session_scope(engine) as session:
        get_snapshot(session, snapshot_id)
        return read_rows(session, snapshot_items(snapshot_id))
