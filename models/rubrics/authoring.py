"""Rubric authoring: the one import point for pages, the CLI and drafting.

Writes (`models.rubrics.versions`): create_rubric, save_version, restore_version,
assign_prompts.
Review (`models.rubrics.workflow`): submit_for_review, approve, reject, reopen, retire.
Reads (`models.rubrics.queries`): load_editor_state, get_version, list_versions,
list_reviews, diff_versions. Pure helpers live in `models.rubrics.lint`,
`models.rubrics.diff` and `models.rubrics.editing`.
"""

from __future__ import annotations

from rubricforge.models.rubrics.queries import (
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
from rubricforge.models.rubrics.versions import (
    assign_prompts,
    clean_criteria,
    create_rubric,
    restore_version,
    save_version,
)
from rubricforge.models.rubrics.workflow import approve, reject, reopen, retire, submit_for_review

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
    "restore_version",
    "retire",
    "save_version",
    "submit_for_review",
]
