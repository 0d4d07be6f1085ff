"""User text in markdown-rendering elements (st.error, st.caption, ...), made inert.

Streamlit never renders raw HTML unless asked, but markdown itself can still
turn a criterion title into a link, an image fetched from elsewhere, or LaTeX.
Backslash-escaping the characters that start such syntax shows the text as typed;
bare URLs and e-mail addresses get an invisible word joiner so they stay text.
"""

from __future__ import annotations

import re

import streamlit as st
from rubricforge.models.core.errors import RubricforgeError

_MARKDOWN = re.compile(r"([\\`*_\[\]<>#!$~|{}])")
# GFM turns bare URLs, www. names and e-mail addresses into links *after* escapes
# are resolved (a transform on the text), so escaping cannot stop it: an invisible
# word joiner inside "://", "www." and after "@" breaks the patterns it looks for.
_AUTOLINK = re.compile(r"(?i)(://|www\.|@)")
_JOINER = "\u2060"


def _break_autolink(match: re.Match[str]) -> str:
    found = match.group(0)
    if found == "@":
        return "@" + _JOINER
    if found == "://":
        return ":" + _JOINER + "//"
    return found[:3] + _JOINER + "."  # www. (any case)


def escape_md(text: str) -> str:
    """Text that st.markdown shows literally (no markup, no links); line breaks are kept."""
    linkless = _AUTOLINK.sub(_break_autolink, text)
    return _MARKDOWN.sub(r"\\\1", linkless).replace("\n", "  \n")


def show_error(exc: RubricforgeError) -> None:
    """A service's message (which may quote user text) as an error box."""
    st.error(escape_md(str(exc)), icon=":material/error:")


_FLASH = "flash"


def flash(message: str) -> None:
    """A success message for the next run (a write is followed by st.rerun)."""
    st.session_state[_FLASH] = message


def show_flash() -> None:
    message = st.session_state.pop(_FLASH, None)
    if message:
        st.success(escape_md(message), icon=":material/check:")
