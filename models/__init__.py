"""rubricforge's domain: the ORM models (every table, so Alembic sees them all)
and the services over them. Imports neither streamlit nor torch."""

from rubricforge.models.accounts.orm import LoginThrottle, Role, User, UserSession
from rubricforge.models.agreement.orm import HumanLabel, SpotCheckItem, SpotCheckQueue
from rubricforge.models.core.audit import AuditEntry, audit
from rubricforge.models.core.base import Base
from rubricforge.models.core.status import Status
from rubricforge.models.data.orm import ExportSnapshot, SnapshotItem
from rubricforge.models.judging.orm import (
    JudgeMode,
    JudgeRun,
    Judgment,
    LLMCache,
    Response,
    Verdict,
)
from rubricforge.models.llm.orm import LLMEndpoint
from rubricforge.models.rubrics.orm import (
    Category,
    Criterion,
    Dataset,
    EditorDraft,
    Prompt,
    ReviewAction,
    RevisionRequest,
    Rubric,
    RubricReview,
    RubricStatus,
    RubricVersion,
    VersionSource,
)
from rubricforge.models.training.orm import (
    EvalRun,
    EvalScore,
    GateThreshold,
    TrainingJob,
    TrainingMetric,
)

__all__ = [
    "AuditEntry",
    "Base",
    "Category",
    "Criterion",
    "Dataset",
    "EditorDraft",
    "EvalRun",
    "EvalScore",
    "ExportSnapshot",
    "GateThreshold",
    "HumanLabel",
    "JudgeMode",
    "JudgeRun",
    "Judgment",
    "LoginThrottle",
    "LLMCache",
    "LLMEndpoint",
    "Prompt",
    "Response",
    "ReviewAction",
    "RevisionRequest",
    "Role",
    "Rubric",
    "RubricReview",
    "RubricStatus",
    "RubricVersion",
    "Status",
    "SnapshotItem",
    "SpotCheckItem",
    "SpotCheckQueue",
    "TrainingJob",
    "TrainingMetric",
    "User",
    "UserSession",
    "VersionSource",
    "Verdict",
    "audit",
]
