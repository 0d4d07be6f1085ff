"""An annotator's keys: the defaults, what is refused and why, and storage per user."""

from __future__ import annotations

import pytest
from judging_support import judged
from pydantic import ValidationError
from rubricforge.models.agreement.label_keys import LabelKeys, label_keys, save_label_keys
from rubricforge.models.core.errors import InvalidInputError, PermissionDenied
from sqlalchemy import Engine
from sqlalchemy.orm import Session


def test_defaults() -> None:
    keys = LabelKeys()
    assert (keys.met, keys.not_met, keys.skip, keys.next, keys.undo) == (
        "m",
        "n",
        "s",
        "Enter",
        "u",
    )
    assert keys.ratings == "1234567890" and keys.show_verdict
    assert keys.shown("met") == "M" and keys.shown("next") == "Enter"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"met": "n"}, "given to both"),
        ({"met": "1"}, "given to both"),  # the score 1's key
        ({"skip": "c"}, "Streamlit's own"),
        ({"undo": "ctrl+z"}, "is not a key"),
        ({"next": ""}, "is not a key"),
        ({"ratings": "123"}, "ten keys"),
        ({"ratings": "1234567899"}, "given to both"),
    ],
)
def test_bad_keys_are_refused_with_the_reason(fields: dict[str, str], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        LabelKeys(**fields)  # type: ignore[arg-type]


def test_named_keys_are_normalised() -> None:
    keys = LabelKeys(next="space", met="Y", ratings="q w e a t x v z o p")
    assert (keys.next, keys.met) == ("Space", "y")


@pytest.mark.db
def test_keys_are_stored_per_user_and_bad_ones_change_nothing(engine: Engine) -> None:
    j = judged(engine)
    ann, bob = j.world.users["ann"], j.world.users["bob"]
    with Session(engine) as s, s.begin():
        save_label_keys(s, ann, met="j", not_met="k", show_verdict=False)
        with pytest.raises(
            InvalidInputError, match="keys not saved: .n. is given to both met and not met"
        ):
            save_label_keys(s, ann, met="n")
        with pytest.raises(PermissionDenied):
            save_label_keys(s, j.world.users["erin"], met="j")  # experts do not label
    with Session(engine) as s:
        mine = label_keys(s, ann)
        assert (mine.met, mine.not_met, mine.show_verdict) == ("j", "k", False)
        assert label_keys(s, bob) == LabelKeys()
