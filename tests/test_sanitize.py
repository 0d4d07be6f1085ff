"""NUL characters on their way into Postgres (pure; the database side is in
test_trainer_queue.py)."""

from __future__ import annotations

from rubricforge.models.core.sanitize import clean_json, clean_text, has_nul


def test_nul_is_replaced_in_text() -> None:
    assert clean_text("a\x00b\x00") == "a\ufffdb\ufffd"
    assert clean_text("plain") == "plain"


def test_nul_is_replaced_in_values_and_keys_at_any_depth() -> None:
    value = {"k\x00": [{"x": ("a\x00", 1, None, 2.5, True)}], "n": 3}
    assert has_nul(value) and not has_nul({"k": [1, "a", {"b": None}]})
    assert clean_json(value) == {"k\ufffd": [{"x": ["a\ufffd", 1, None, 2.5, True]}], "n": 3}
    assert not has_nul(clean_json(value))
