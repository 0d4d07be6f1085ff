"""User text (dataset names, uids) never becomes a link, markup or an
e-mail link in the editor and History headings (or any escaped text)."""

from __future__ import annotations

import re

import pytest
from rubricforge.models.rubrics.orm import Dataset, Prompt
from rubricforge.webapp.components.text import escape_md
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from webapp_support import add_account, app_as

pytestmark = pytest.mark.db

# The patterns Streamlit's markdown renderer (remark-gfm) links in text, as found
# in its bundle (static/js/StreamlitMarkdown.*.js), applied after escapes resolve.
URL = re.compile(r"(https?://|www(?=\.))([-.\w]+)([^ \t\r\n]*)", re.I)
EMAIL = re.compile(r"([-.\w+]+)@([-\w]+(?:\.[-\w]+)+)")
HOSTILE_NAME = "see https://evil.example/x and WWW.evil.example"
HOSTILE_UID = "mail-me@evil.example"


def rendered_text(markdown: str) -> str:
    """What the renderer's link transform sees: the text with backslash escapes resolved."""
    return re.sub(r"\\(.)", r"\1", markdown)


def linkable(markdown: str) -> list[str]:
    text = rendered_text(markdown)
    return [m.group(0) for m in URL.finditer(text)] + [m.group(0) for m in EMAIL.finditer(text)]


@pytest.mark.parametrize(
    "text",
    [
        "https://evil.example/x",
        "HTTP://evil.example",
        "www.evil.example",
        "mail a@b.co now",
        "[click](https://evil.example)",
        "<https://evil.example>",
    ],
)
def test_escape_md_leaves_nothing_to_link(text: str) -> None:
    escaped = escape_md(text)
    assert not linkable(escaped), escaped
    # What a reader sees is the text as typed (the word joiner is invisible).
    assert rendered_text(escaped).replace("\u2060", "") == text


def test_the_check_above_can_fail() -> None:
    assert linkable("see https://evil.example") and linkable("a@b.co")


@pytest.fixture
def hostile_prompt(app_db: str) -> int:
    eng = create_engine(app_db)
    with Session(eng) as s, s.begin():
        ds = Dataset(name=HOSTILE_NAME)
        s.add(ds)
        s.flush()
        p = Prompt(dataset_id=ds.id, external_id=HOSTILE_UID, question="Q?", reference_answer="A")
        s.add(p)
        s.flush()
        pid = p.id
    eng.dispose()
    return pid


@pytest.mark.parametrize("page", ["views/editor.py", "views/history.py"])
def test_headings_show_urls_and_emails_as_text(app_db: str, hostile_prompt: int, page: str) -> None:
    at = app_as(add_account(app_db, "ed", "expert"), query={"prompt": str(hostile_prompt)})
    at.switch_page(page).run()
    assert not at.exception, at.exception
    [heading] = [h.value for h in at.subheader]
    assert rendered_text(heading).replace("\u2060", "") == f"{HOSTILE_NAME} / {HOSTILE_UID}"
    assert not linkable(heading), heading
