"""User text in markdown-rendering elements (st.error, st.caption, ...), made inert.

Streamlit never renders raw HTML unless asked, but markdown itself can still
turn a criterion title into a link, an image fetched from elsewhere, or LaTeX.
Backslash-escaping the characters that start such syntax shows the text as typed.
"""

from __future__ import annotations

import re

import streamlit as st
from rubricforge.models.core.errors import RubricforgeError

_MARKDOWN = re.compile(r"([\\`*_\[\]<>#!$~|{}])")


def escape_md(text: str) -> str:
    """Text that st.markdown shows literally; line breaks are kept."""
    return _MARKDOWN.sub(r"\\\1", text).replace("\n", "  \n")


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
