"""Each annotator's keyboard keys on the Spot-check page.

Defaults (README, "Labelling at volume"): M met, N not met, S skip, Enter next item,
U undo, and 1-9 then 0 for the scores 1-10 of whole-response items. After a label the
judge's verdict is shown until Enter; `show_verdict=False` goes straight to the next
item instead (one key an item; the verdict stays readable under "Your labels").

A key is one letter or digit, or a named key (Enter, Space, ...); C and R are Streamlit's
own (clear cache, rerun) and refused, and no key may do two things. The page passes the
keys to Streamlit's button shortcuts, so only keys Streamlit accepts are stored.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from rubricforge.models.accounts.permissions import Action, UserInfo, require
from rubricforge.models.agreement.orm import LabelKeySetting
from rubricforge.models.core.errors import InvalidInputError
from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

__all__ = ["ACTIONS", "LabelKeys", "label_keys", "save_label_keys"]

NAMED = {
    k.lower(): k
    for k in ("Enter", "Space", "Tab", "Escape", "Backspace", "Delete", "ArrowUp", "ArrowDown",
              "ArrowLeft", "ArrowRight", "Home", "End", "PageUp", "PageDown")
}  # fmt: skip
RESERVED = {"c", "r"}  # Streamlit's own shortcuts
# field -> what it does, in the order the settings form shows them
ACTIONS = {
    "met": "Met",
    "not_met": "Not met",
    "skip": "Skip",
    "next": "Next item",
    "undo": "Undo my last label",
}


def normalize_key(raw: str) -> str:
    key = raw.strip()
    if key.lower() in NAMED:
        return NAMED[key.lower()]
    if len(key) == 1 and key.isascii() and key.isalnum():
        if key.lower() in RESERVED:
            raise ValueError(f"{key!r} is Streamlit's own key (C clears, R reruns); choose another")
        return key.lower()
    raise ValueError(
        f"{raw.strip()[:20]!r} is not a key: use one letter or digit, or one of "
        + ", ".join(NAMED.values())
    )


class LabelKeys(BaseModel):
    """One annotator's keys; every field has its default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    met: str = "m"
    not_met: str = "n"
    skip: str = "s"
    next: str = "Enter"
    undo: str = "u"
    ratings: str = Field(default="1234567890", description="keys for the scores 1 to 10")
    show_verdict: bool = True

    @field_validator("met", "not_met", "skip", "next", "undo")
    @classmethod
    def _key(cls, value: str) -> str:
        return normalize_key(value)

    @field_validator("ratings")
    @classmethod
    def _ratings(cls, value: str) -> str:
        keys = "".join(value.split())
        if len(keys) != 10:
            raise ValueError("give ten keys, for the scores 1 to 10 in order (e.g. 1234567890)")
        return "".join(normalize_key(k) for k in keys)

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        used: dict[str, str] = {}
        for name, key in [*((n, getattr(self, n)) for n in ACTIONS),
                          *((f"score {i}", k) for i, k in enumerate(self.ratings, 1))]:  # fmt: skip
            name = name.replace("_", " ")
            if key in used:
                raise ValueError(f"{key!r} is given to both {used[key]} and {name}")
            used[key] = name
        return self

    def shown(self, field: str) -> str:
        """A key as the page writes it: letters in capitals (M), named keys as named."""
        key: str = getattr(self, field)
        return key.upper() if len(key) == 1 else key


def _reason(message: str) -> str:
    return message.removeprefix("Value error, ")


def label_keys(session: Session, user: UserInfo) -> LabelKeys:
    """The user's keys, or the defaults."""
    if user.id is None:
        return LabelKeys()
    row = session.get(LabelKeySetting, user.id)
    if row is None:
        return LabelKeys()
    try:
        return LabelKeys(**row.keys)
    except ValidationError:  # saved by an older version with other rules: start over
        return LabelKeys()


def save_label_keys(session: Session, actor: UserInfo, **fields: Any) -> LabelKeys:
    """Store the actor's keys, or InvalidInputError saying what to fix (nothing stored)."""
    require(actor, Action.label)
    if actor.id is None:
        raise InvalidInputError("keys belong to a person: sign in with your own account")
    try:
        keys = LabelKeys(**fields)
    except ValidationError as exc:
        problems = "; ".join(
            ": ".join(filter(None, [".".join(map(str, e["loc"])), _reason(e["msg"])]))
            for e in exc.errors()
        )
        raise InvalidInputError(f"keys not saved: {problems}") from None
    values = keys.model_dump()
    session.execute(
        insert(LabelKeySetting)
        .values(user_id=actor.id, keys=values)
        .on_conflict_do_update(
            index_elements=[LabelKeySetting.user_id],
            set_={"keys": values, "updated_at": func.now()},
        )
    )
    return keys
