"""The one error boundary around every page: no traceback ever reaches a user.

A user's error (RubricforgeError) that a page did not handle shows its message.
Anything else is our bug or an outage: the user sees a short message with an
incident id, and the traceback goes to the server log under that id, so an admin
can find it without the page revealing server paths or code.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

import streamlit as st
from rubricforge.models.core.errors import RubricforgeError
from rubricforge.webapp.components.text import show_error

log = logging.getLogger("rubricforge.webapp")

INCIDENT_MESSAGE = (
    "Something went wrong on our side and this page stopped. Nothing after the last "
    "success message was saved. Reload the page to try again; if it happens again, give "
    "an admin the incident id {incident} (the details are in the server log)."
)


def new_incident() -> str:
    return uuid.uuid4().hex[:12]


def run_guarded(run: Callable[[], None], where: str) -> None:
    """Run a page. Streamlit's own stop and rerun signals pass through (they are
    BaseException, not Exception)."""
    try:
        run()
    except RubricforgeError as exc:
        show_error(exc)
    except Exception:
        incident = new_incident()
        log.exception("incident %s on page %s", incident, where)
        st.error(INCIDENT_MESSAGE.format(incident=incident), icon=":material/report:")
