"""Who may do what: one table from action to roles, and the acting user.

Every service that writes takes a `UserInfo` and calls `require` first, so the
app, the CLI and the tests get the same answer. Reading is open to every
signed-in role; the table lists writes only.

Review rule (kept in `models.rubrics.workflow`, because it needs the version's author):
an expert may not approve or reject a version they authored; someone else
reviews it. An admin may, as the override for small teams and emergencies.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from rubricforge.models.accounts.orm import Role
from rubricforge.models.core.errors import PermissionDenied


class Action(enum.StrEnum):
    edit_rubric = "edit_rubric"  # save versions, create rubrics, reopen
    draft_rubric = "draft_rubric"  # ask the LLM for a draft
    submit_rubric = "submit_rubric"
    review_rubric = "review_rubric"  # approve or reject
    retire_rubric = "retire_rubric"
    assign_prompts = "assign_prompts"
    import_data = "import_data"
    label = "label"
    adjudicate = "adjudicate"  # record the final label where annotators disagree
    manage_spotchecks = "manage_spotchecks"  # draw spot-check queues
    flag_revision = "flag_revision"  # send a criterion back to its expert
    run_judge = "run_judge"  # start a judge run over stored responses (spends LLM calls)
    export = "export"
    train = "train"
    manage_users = "manage_users"
    manage_endpoints = "manage_endpoints"
    manage_gate = "manage_gate"  # set the agreement gate's thresholds


_RUBRIC_WRITERS = frozenset({Role.admin, Role.expert})

PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.edit_rubric: _RUBRIC_WRITERS,
    Action.draft_rubric: _RUBRIC_WRITERS,
    Action.submit_rubric: _RUBRIC_WRITERS,
    Action.review_rubric: _RUBRIC_WRITERS,
    Action.retire_rubric: _RUBRIC_WRITERS,
    Action.assign_prompts: _RUBRIC_WRITERS,
    Action.import_data: _RUBRIC_WRITERS,
    Action.label: frozenset({Role.admin, Role.annotator}),
    Action.adjudicate: _RUBRIC_WRITERS,
    Action.manage_spotchecks: frozenset({Role.admin, Role.expert, Role.researcher}),
    Action.flag_revision: frozenset({Role.admin, Role.expert, Role.researcher}),
    Action.run_judge: frozenset({Role.admin, Role.expert, Role.researcher}),
    Action.export: frozenset({Role.admin, Role.researcher}),
    Action.train: frozenset({Role.admin, Role.researcher}),
    Action.manage_users: frozenset({Role.admin}),
    Action.manage_endpoints: frozenset({Role.admin}),
    Action.manage_gate: frozenset({Role.admin}),
}


# The pages a role works in (by the page's url path), its landing page first: the sidebar
# lists only these. A role not listed gets Streamlit's menu of every page it may open and
# lands on the Overview. Annotators label, read their agreement and the judges ranked on
# their labels; the other reading pages stay open to them by link or address, unlisted.
ROLE_PAGES: dict[Role, tuple[str, ...]] = {
    Role.annotator: ("spotcheck", "agreement", "leaderboard")
}


@dataclass(frozen=True)
class UserInfo:
    """The acting user as plain data (safe to keep in a Streamlit session)."""

    id: int | None
    username: str
    role: Role


# Whoever runs the CLI on the machine can reach the database URL and so can do
# anything anyway; we record them honestly as "cli" instead of inventing a user.
OPERATOR = UserInfo(id=None, username="cli", role=Role.admin)


def can(user: UserInfo, action: Action) -> bool:
    return user.role in PERMISSIONS[action]


def require(user: UserInfo, action: Action) -> None:
    """Raise PermissionDenied unless the user's role allows the action."""
    if not can(user, action):
        allowed = ", ".join(sorted(r.value for r in PERMISSIONS[action]))
        raise PermissionDenied(
            f"{user.username} ({user.role.value}) may not {action.value.replace('_', ' ')}; "
            f"that needs the role {allowed}. Ask an admin to change your role if you need it."
        )
