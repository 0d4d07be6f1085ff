"""Errors a user can cause or fix. The CLI and the pages show their message, never a traceback."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rubricforge.models.rubrics.lint import Finding


class RubricforgeError(Exception):
    """Base class: the message says what went wrong and how to fix it."""


class DatabaseError(RubricforgeError):
    pass


class ImportFileError(RubricforgeError):
    """A file that cannot be imported. `problems` lists every bad row as (line, message);
    line 0 is the file as a whole (missing, empty, unknown type or shape)."""

    def __init__(self, path: str, problems: list[tuple[int, str]]):
        self.path = path
        self.problems = problems
        shown = "\n".join(
            f"  {f'line {line}' if line else 'file'}: {msg}" for line, msg in problems[:50]
        )
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(
            f"{path}: {len(problems)} problem(s); nothing was imported.\n{shown}{more}"
        )


class StaleEditError(RubricforgeError):
    pass


class NotFoundError(RubricforgeError):
    pass


class PermissionDenied(RubricforgeError):
    pass


class ExportError(RubricforgeError):
    pass


class InvalidInputError(RubricforgeError):
    """Input that breaks a rule (weak password, blank criterion, missing comment)."""


class NoChangesError(InvalidInputError):
    """A save whose criteria equal the current version: nothing to make a version of."""


class WorkflowError(RubricforgeError):
    """A review transition the rubric's status does not allow."""


class LintErrorsRemain(WorkflowError):
    """Approval refused while lint errors remain; approve again with confirmation."""

    def __init__(self, message: str, findings: list[Finding]):
        self.findings = findings
        super().__init__(message)


class EditorInputError(InvalidInputError):
    """Edited rows that cannot become criteria. `problems` lists every bad row."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        shown = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the table; nothing was applied.\n{shown}")


class LLMError(RubricforgeError):
    """A call to an LLM endpoint that did not give a usable answer."""


class LLMConfigError(LLMError):
    """An endpoint that cannot be called as configured (missing key variable, bad value)."""


class LLMRequestError(LLMError):
    """The endpoint refused the request, or kept failing (429, 5xx, timeouts) past the retries."""


class LLMReplyError(LLMError):
    """The model's replies were not valid JSON or broke the schema, every attempt.

    `raw` is the last reply exactly as received, `problems` what was wrong with it;
    `tokens_in`/`tokens_out` what every attempt cost (each one was paid for).
    """

    def __init__(
        self,
        message: str,
        *,
        raw: str,
        problems: str,
        attempts: int,
        tokens_in: int = 0,
        tokens_out: int = 0,
    ):
        self.raw = raw
        self.problems = problems
        self.attempts = attempts
        self.tokens_in = tokens_in
        self.tokens_out = tokens_out
        super().__init__(message)


class SignInLockedError(RubricforgeError):
    """Too many failed sign-ins for an account or a network address: wait, or an
    admin unlocks it."""
