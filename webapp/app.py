"""rubricforge's Streamlit entry point: page config, sign-in, and the pages a role may use.

New pages are one file in webapp/views/ and one entry in PAGES. Hiding a page
from the navigation is only the first check: each page checks the user's role
again, and every service call checks it once more.

The folder is not called `pages/`: Streamlit would take that for the older
multipage layout and could run a page script without this file, skipping sign-in.
"""

from __future__ import annotations

import streamlit as st
from rubricforge.models.accounts.permissions import ROLE_PAGES, Action, UserInfo, can
from rubricforge.webapp.auth import current_user, follow_redirect, sign_out
from rubricforge.webapp.components.boundary import run_guarded
from rubricforge.webapp.components.editing import unsaved_prompts
from rubricforge.webapp.components.text import escape_md
from rubricforge.webapp.login_form import requested_path, show_login

st.set_page_config(page_title="rubricforge", layout="wide")

LOGIN = st.Page("views/login.py", title="Sign in", icon=":material/login:", url_path="login")
user = current_user()
# A role with its own pages (ROLE_PAGES: annotators) lands on the first of them, not here.
FOCUS = ROLE_PAGES.get(user.role, ()) if user is not None else ()
# (page, the action a role needs to see it; None: every signed-in role)
PAGES: list[tuple[st.Page, Action | None]] = [
    (
        st.Page(
            "views/overview.py", title="Overview", icon=":material/dashboard:", default=not FOCUS
        ),
        None,
    ),
    (st.Page("views/prompts.py", title="Prompts", icon=":material/list_alt:"), None),
    # Every role may list and download snapshots; importing needs Action.import_data and
    # creating a snapshot Action.export (each checked on the page and by the service).
    (
        st.Page("views/data.py", title="Data", icon=":material/swap_vert:", url_path="data"),
        None,
    ),
    # Every role may read rubrics; the editor shows write controls to writers only.
    (
        st.Page(
            "views/editor.py",
            # The navigation says when an editor holds edits that are not saved yet.
            title="Editor · unsaved changes" if unsaved_prompts() else "Editor",
            icon=":material/edit_note:",
            url_path="editor",
        ),
        None,
    ),
    (
        st.Page("views/history.py", title="History", icon=":material/history:", url_path="history"),
        None,
    ),
    # Every role may watch training; submitting, cancelling and previews need Action.train.
    (
        st.Page(
            "views/training.py",
            title="Training",
            icon=":material/model_training:",
            url_path="training",
        ),
        None,
    ),
    # Reading judge runs is open; starting one needs Action.run_judge (checked on the page).
    (
        st.Page(
            "views/judging.py", title="Judge runs", icon=":material/gavel:", url_path="judging"
        ),
        None,
    ),
    # Annotators label here; experts and researchers draw queues (each checked on the page).
    (
        st.Page(
            "views/spotcheck.py",
            title="Spot-check",
            icon=":material/fact_check:",
            url_path="spotcheck",
        ),  # fmt: skip
        None,
    ),
    # Every role reads the figures; annotators see only their own items in the drill-down.
    (
        st.Page(
            "views/agreement.py",
            title="Agreement",
            icon=":material/query_stats:",
            url_path="agreement",
        ),  # fmt: skip
        None,
    ),
    (
        st.Page(
            "views/adjudication.py",
            title="Adjudication",
            icon=":material/balance:",
            url_path="adjudication",
        ),  # fmt: skip
        Action.adjudicate,
    ),
    (
        st.Page(
            "views/leaderboard.py",
            title="Leaderboard",
            icon=":material/leaderboard:",
            url_path="leaderboard",
        ),  # fmt: skip
        None,
    ),
    (
        st.Page("views/admin.py", title="Admin", icon=":material/settings:", url_path="admin"),
        Action.manage_users,
    ),
]


def visible_pages(user: UserInfo) -> list[st.Page]:
    """The pages the user may open; a role's own pages (ROLE_PAGES) first, in that
    order, so the first (an annotator's queue) is where they land."""
    allowed = [page for page, action in PAGES if action is None or can(user, action)]
    rank = {path: n for n, path in enumerate(FOCUS)}
    return sorted(allowed, key=lambda page: rank.get(page.url_path, len(rank)))


def focus_links(pages: list[st.Page]) -> None:
    """The sidebar menu of a role with its own pages: only those. The others stay
    reachable by link and address (a deep link, an unsaved editor), never listed."""
    for page in pages:
        st.page_link(page)
    st.divider()


if follow_redirect():  # to /api/session or /api/signout, which set or clear the cookie
    st.stop()
if user is None:
    # Every page is known while signed out, so a deep link is not "page not found":
    # its address stays, the sign-in form shows there, and sign-in returns to it.
    page = st.navigation([LOGIN, *(p for p, _ in PAGES)], position="hidden")
    if page is LOGIN:
        run_guarded(page.run, page.title)
    else:
        run_guarded(lambda: show_login(requested_path(page.url_path)), page.title)
else:
    pages = visible_pages(user)
    own = [p for p in pages if p.url_path in FOCUS]  # before navigation makes one the default
    page = st.navigation(pages, position="hidden" if FOCUS else "sidebar")
    with st.sidebar:
        if FOCUS:
            focus_links(own)
        st.caption(escape_md(f"Signed in as {user.username} ({user.role.value})"))
        st.button("Sign out", on_click=sign_out, icon=":material/logout:")
    with st.sidebar:  # each editor with unsaved edits, one click away
        for pid, label in unsaved_prompts(user).items():
            link = escape_md(f"Unsaved changes: {label}")
            query = {"prompt": str(pid)}
            st.page_link("views/editor.py", label=link, icon=":material/edit:", query_params=query)
    run_guarded(page.run, page.title)
