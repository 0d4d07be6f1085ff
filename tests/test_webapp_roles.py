"""Every page, as every role: a page a role may not use is neither in its
navigation nor usable by running its script directly, and every write control
on a shared page is shown exactly to the roles the permission table allows.

The pages come from `webapp.app.PAGES` (a new page is covered without editing
this file); the write controls are listed in CONTROLS, and a page with a write
control nobody listed fails `test_no_write_control_is_left_unlisted`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from rubricforge.models.accounts.orm import Role
from rubricforge.models.accounts.permissions import OPERATOR, ROLE_PAGES, Action, UserInfo, can
from rubricforge.models.core.db import session_scope
from rubricforge.models.data.exporter import ExportFilter, create_snapshot
from rubricforge.models.llm.endpoints import save_endpoint
from rubricforge.models.rubrics.orm import Rubric
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest
from webapp_support import app_as, user_id

pytestmark = pytest.mark.db

WEBAPP = Path(__file__).resolve().parent.parent / "webapp"
ACCOUNTS = {
    Role.admin: "admin",
    Role.expert: "expert1",
    Role.annotator: "annotator1",
    Role.researcher: "researcher1",
}
# page -> {button label: the action it needs}. Buttons not listed here are reads
# (navigation, filters, "Sign out").
CONTROLS: dict[str, dict[str, Action]] = {
    "prompts": {"Assign": Action.assign_prompts},
    "data": {
        "Preview": Action.import_data,  # a dry run, in the import form
        "Import": Action.import_data,
        "Create snapshot": Action.export,
        "Build preference pairs": Action.export,  # reads, but only for who may export
    },
    "editor": {
        "Save version": Action.edit_rubric,
        "Reopen as draft": Action.edit_rubric,
        "Retire": Action.retire_rubric,
        "Redraft with LLM": Action.draft_rubric,
        "Discard changes": Action.edit_rubric,  # drops unsaved edits (a write control)
        "Run the rubric check": Action.run_judge,  # spends judge calls
        "Add criterion": Action.edit_rubric,  # adds to the unsaved table
    },
    "training": {"Submit job": Action.train, "Preview rewards": Action.train},
    "judging": {"Start judge run": Action.run_judge},
    "spotcheck": {"Draw queue": Action.manage_spotchecks},
    "agreement": {"Flag for revision": Action.flag_revision},
    "adjudication": {"Final: met": Action.adjudicate, "Final: not met": Action.adjudicate},
    "admin": {
        "Add user": Action.manage_users,
        "Disable account": Action.manage_users,
        "Reset password": Action.manage_users,
        "Save endpoint": Action.manage_endpoints,
        "Save thresholds": Action.manage_gate,
    },
}
READ_BUTTONS = {"Sign out", "Prepare downloads", "Previous prompt", "Next prompt"}


def pages() -> list[tuple[str, Action | None]]:
    """(view name, the action the page needs) from webapp/app.py's PAGES, read
    without running Streamlit."""
    tree = ast.parse((WEBAPP / "app.py").read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Tuple) and len(node.elts) == 2:
            page, action = node.elts
            if isinstance(page, ast.Call) and getattr(page.func, "attr", "") == "Page":
                path = page.args[0].value  # type: ignore[attr-defined]
                gate = None if isinstance(action, ast.Constant) else Action(action.attr)  # type: ignore[attr-defined]
                found.append((Path(path).stem, gate))
    return found


PAGES = pages()


def test_pages_are_found() -> None:
    names = [name for name, _ in PAGES]
    assert {"overview", "editor", "spotcheck", "agreement", "admin", "training"} <= set(names)
    assert dict(PAGES)["admin"] is Action.manage_users


@pytest.fixture
def workspace(demo_app_db: str) -> str:
    """The demo plus an LLM endpoint and a snapshot, so judging and training show
    their write controls to the roles that may use them."""
    eng = create_engine(demo_app_db)
    with session_scope(eng) as s:
        save_endpoint(s, OPERATOR, "local", base_url="http://127.0.0.1:9/v1", model="m",
                      api_key_env=None)  # fmt: skip
    create_snapshot(eng, ExportFilter(), actor=OPERATOR)
    eng.dispose()
    return demo_app_db


def run_page(url: str, role: Role, page: str) -> AppTest:
    query = None
    if page == "editor":
        eng = create_engine(url)
        with Session(eng) as s:
            query = {"prompt": str(s.scalars(select(Rubric.prompt_id).order_by(Rubric.id)).first())}
        eng.dispose()
    at = app_as(user_id(url, ACCOUNTS[role]), f"views/{page}.py", query)
    if page == "training":  # its write controls are in the New job view
        next(w for w in at.segmented_control if w.label == "View").set_value("New job").run()
    if page == "agreement":  # "Flag for revision" is in the lazy Disagreements tab
        at.session_state["agreement:tab"] = "Disagreements"
        at.run()
    return at


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_each_page_as_each_role(workspace: str, role: Role) -> None:
    for page, gate in PAGES:
        if gate is not None and not can_role(role, gate):
            # Not in this role's navigation ...
            with pytest.raises(ValueError, match="Could not find a navigation page"):
                run_page(workspace, role, page)
            # ... and its script, run directly, stops before showing anything.
            at = AppTest.from_file(str(WEBAPP / "views" / f"{page}.py"), default_timeout=60)
            at.session_state["user_id"] = user_id(workspace, ACCOUNTS[role])
            at.run()
            assert not at.exception
            assert any("Not allowed" in e.value for e in at.error), page
            assert [b.label for b in at.button] == [], page
            assert len(at.text_input) == len(at.selectbox) == 0, page
            continue
        at = run_page(workspace, role, page)
        buttons = {b.label for b in at.button}
        for label, action in CONTROLS.get(page, {}).items():
            assert (label in buttons) == can_role(role, action), (page, label, role.value)


def sidebar_links(at: AppTest) -> list[str]:
    return [link.proto.label for link in at.sidebar.get("page_link")]


def test_an_annotator_lands_on_the_queue_and_sees_only_their_pages(workspace: str) -> None:
    at = app_as(user_id(workspace, ACCOUNTS[Role.annotator]))
    assert [t.value for t in at.title] == ["Spot-check"]  # no rubric-status overview
    assert ROLE_PAGES[Role.annotator] == ("spotcheck", "agreement", "leaderboard")
    assert sidebar_links(at) == ["Spot-check", "Agreement", "Leaderboard"]
    # The pages they do not work in are not listed, yet an address still opens them.
    assert [t.value for t in at.switch_page("views/overview.py").run().title] == ["Overview"]
    expert = app_as(user_id(workspace, ACCOUNTS[Role.expert]))
    assert [t.value for t in expert.title] == ["Overview"]
    assert sidebar_links(expert) == []  # Streamlit's own menu: every page the role may open


def can_role(role: Role, action: Action) -> bool:
    return can(UserInfo(id=None, username=role.value, role=role), action)


def test_no_write_control_is_left_unlisted(workspace: str) -> None:
    """As admin (who sees every control), each page's buttons are listed reads or
    listed controls."""
    for page, _ in PAGES:
        at = run_page(workspace, Role.admin, page)
        unlisted = {b.label for b in at.button} - READ_BUTTONS - set(CONTROLS.get(page, {}))
        assert not unlisted, f"{page}: classify {sorted(unlisted)} in CONTROLS or READ_BUTTONS"
