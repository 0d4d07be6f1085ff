"""NUL characters: the pure rules, and the safety net that makes a path
nobody sanitised store U+FFFD instead of failing (text, COPY and jsonb)."""

from __future__ import annotations

import json

import pytest
from rubricforge.models.core.text_safety import clean_text, safe_json_dumps, scrub
from sqlalchemy import Engine, text


def test_clean_text_replaces_and_says_so() -> None:
    assert clean_text("a\x00b\x00") == ("a\ufffdb\ufffd", True)
    assert clean_text("plain") == ("plain", False)


def test_scrub_walks_keys_values_and_lists_and_counts_strings() -> None:
    value = {"q\x00": ["ok", "x\x00"], "n": 1, "deep": [{"t": ("\x00",)}]}
    cleaned, count = scrub(value)
    assert count == 3
    assert cleaned == {"q\ufffd": ["ok", "x\ufffd"], "n": 1, "deep": [{"t": ("\ufffd",)}]}
    same = {"a": ["b"]}
    assert scrub(same) == (same, 0) and scrub(same)[0] is same


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ("a\x00", "a\ufffd"),
        ("back\\u0000slash", "back\\u0000slash"),  # a literal backslash-u: kept
        ("\\\x00", "\\\ufffd"),
    ],
)
def test_safe_json_dumps_only_touches_escaped_nuls(obj: str, expected: str) -> None:
    assert json.loads(safe_json_dumps(obj)) == expected


def test_the_safety_net_stores_nul_text_and_json_as_replacement(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TEMP TABLE t (s text, j jsonb)"))
        conn.execute(
            text("INSERT INTO t VALUES (:s, CAST(:j AS jsonb))"),
            {"s": "bad\x00text", "j": json.dumps("ok")},
        )
        raw = conn.connection.driver_connection
        assert raw is not None
        from psycopg.types.json import Jsonb

        with raw.cursor() as cur:
            cur.execute("INSERT INTO t VALUES (%s, %s)", ("b\x00", Jsonb({"k": "v\x00"})))
            with cur.copy("COPY t (s) FROM STDIN") as copy:
                copy.write_row(("c\x00",))
        rows = conn.execute(text("SELECT s, j FROM t ORDER BY s")).all()
    assert [r.s for r in rows] == ["bad\ufffdtext", "b\ufffd", "c\ufffd"]
    assert rows[1].j == {"k": "v\ufffd"}


def test_nul_is_replaced_in_values_and_keys_at_any_depth() -> None:
    """What the training queue writes (metrics, provenance) goes through scrub too."""
    value = {"k\x00": [{"x": ("a\x00", 1, None, 2.5, True)}], "n": 3}
    cleaned, count = scrub(value)
    assert cleaned == {"k\ufffd": [{"x": ("a\ufffd", 1, None, 2.5, True)}], "n": 3}
    assert count == 2 and scrub(cleaned)[1] == 0
    plain = {"k": [1, "a", {"b": None}]}
    assert scrub(plain) == (plain, 0)
