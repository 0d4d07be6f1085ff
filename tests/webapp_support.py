"""Shared helpers for the app's AppTest files: a database the app under test
reaches through DATABASE_URL, accounts, and a signed-in AppTest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from rubricforge.models.accounts.auth import add_user, set_password
from rubricforge.models.accounts.orm import User
from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.core.db import session_scope
from rubricforge.models.demo.loader import load_demo
from rubricforge.models.rubrics.orm import Prompt
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parent.parent / "webapp" / "app.py"
PASSWORD = "correct horse battery"


@pytest.fixture
def app_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """DATABASE_URL for the app under test; the engine cache is cleared around each
    test (it survives between AppTest runs in one process)."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    st.cache_resource.clear()
    yield db_url
    st.cache_resource.clear()


@pytest.fixture
def demo_app_db(app_db: str) -> str:
    """The demo workspace, with the password PASSWORD on every demo account."""
    eng = create_engine(app_db)
    load_demo(eng)
    with session_scope(eng) as s:
        for name in s.scalars(select(User.username)).all():
            set_password(s, name, PASSWORD, actor=OPERATOR)
    eng.dispose()
    return app_db


def add_account(url: str, username: str, role: str, password: str = PASSWORD) -> int:
    eng = create_engine(url)
    with session_scope(eng) as s:
        user = add_user(s, username, role, password, actor=OPERATOR)
    eng.dispose()
    assert user.id is not None
    return user.id


def user_id(url: str, username: str) -> int:
    eng = create_engine(url)
    with Session(eng) as s:
        uid = s.scalars(select(User.id).where(User.username == username)).one()
    eng.dispose()
    return uid


def prompt_id(url: str, external_id: str) -> int:
    eng = create_engine(url)
    with Session(eng) as s:
        pid = s.scalars(select(Prompt.id).where(Prompt.external_id == external_id)).one()
    eng.dispose()
    return pid


def app_as(
    uid: int | None, page: str | None = None, query: dict[str, str] | None = None
) -> AppTest:
    """The app, signed in as user `uid` (None: nobody), optionally on `page`."""
    at = AppTest.from_file(str(APP), default_timeout=60)
    if uid is not None:
        at.session_state["user_id"] = uid
    if query:
        at.query_params.update(query)
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def widget(at: AppTest, kind: str, label: str) -> Any:  # AppTest widget classes vary by kind
    found = [w for w in getattr(at, kind) if w.label == label]
    assert found, f"no {kind} labelled {label!r}; have {[w.label for w in getattr(at, kind)]}"
    return found[0]


def has(at: AppTest, kind: str, label: str) -> bool:
    return any(w.label == label for w in getattr(at, kind))


def click(at: AppTest, label: str) -> AppTest:
    widget(at, "button", label).click()
    at.run()
    assert not at.exception, at.exception
    return at


def values(at: AppTest, kind: str) -> list[str]:
    """The texts of every element of a kind (error, warning, success, info, caption, ...)."""
    return [e.value for e in getattr(at, kind)]


def shown(at: AppTest, kind: str, needle: str) -> bool:
    """Whether some element of `kind` contains `needle` (markdown escapes and the
    invisible word joiners escape_md puts into URLs and e-mail addresses removed)."""
    return any(needle in str(v).replace("\\", "").replace("\u2060", "") for v in values(at, kind))
