"""Rubric authoring: the one import point for pages, the CLI and drafting.

Writes (`models.versions`): create_rubric, save_version, assign_prompts.
Review (`models.workflow`): submit_for_review, approve, reject, reopen, retire.
Reads (`models.rubric_queries`): load_editor_state, get_version, list_versions,
list_reviews, diff_versions. Pure helpers live in `models.lint`,
`models.diff` and `models.editor`.
"""

from __future__ import annotations

from .rubric_queries import (
    EditorState,
    ReviewInfo,
    RubricState,
    VersionInfo,
    diff_versions,
    get_version,
    list_reviews,
    list_versions,
    load_editor_state,
)
from .versions import assign_prompts, clean_criteria, create_rubric, save_version
from .workflow import approve, reject, reopen, retire, submit_for_review

__all__ = [
    "EditorState",
    "ReviewInfo",
    "RubricState",
    "VersionInfo",
    "approve",
    "assign_prompts",
    "clean_criteria",
    "create_rubric",
    "diff_versions",
    "get_version",
    "list_reviews",
    "list_versions",
    "load_editor_state",
    "reject",
    "reopen",
    "retire",
    "save_version",
    "submit_for_review",
]
