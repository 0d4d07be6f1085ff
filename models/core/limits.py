"""Size limits on text that users or models hand us, and how each is enforced.

Pure functions: a search that is too long or holds a NUL is refused with a
message (the query never runs); model output past its cap is kept, truncated
with a visible marker, so what is stored says that it was cut.
"""

from __future__ import annotations

from typing import Final

from rubricforge.models.core.errors import InvalidInputError

MAX_SEARCH: Final = 200  # characters of a prompt search
MAX_RATIONALE: Final = 4000  # characters of a judge's rationale kept per verdict
TRUNCATED: Final = " …[truncated: {dropped} more characters]"


def search_text(text: str | None) -> str | None:
    """The search as the query uses it (stripped; None when blank), or a clear refusal."""
    if text is None or not text.strip():
        return None
    needle = text.strip()
    if len(needle) > MAX_SEARCH:
        raise InvalidInputError(
            f"Search is {len(needle)} characters long; shorten it to {MAX_SEARCH} or fewer."
        )
    if any(ord(ch) < 32 for ch in needle):
        raise InvalidInputError(
            "Search holds a control character (such as NUL); type plain words or a prompt ID."
        )
    return needle


def cap_text(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else its start and a marker saying
    how much was dropped (the whole result still fits in `limit`)."""
    if len(text) <= limit:
        return text
    keep = limit - len(TRUNCATED.format(dropped=len(text)))
    return text[:keep] + TRUNCATED.format(dropped=len(text) - keep)
