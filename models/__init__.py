"""rubricforge's domain: the ORM models (every table, so Alembic sees them all)
and the services over them. Imports neither streamlit nor torch."""

from .audit import AuditEntry, audit
from .base import Base
from .dataset import Dataset, Prompt
from .judging import (
    JudgeMode,
    JudgeRun,
    Judgment,
    LLMCache,
    Response,
    RunStatus,
    Verdict,
)
from .labels import HumanLabel, SpotCheckItem, SpotCheckQueue
from .rubric import (
    Category,
    Criterion,
    ReviewAction,
    RevisionRequest,
    Rubric,
    RubricReview,
    RubricStatus,
    RubricVersion,
    VersionSource,
)
from .snapshot import ExportSnapshot, SnapshotItem
from .training import JobStatus, TrainingJob, TrainingMetric
from .user import LLMEndpoint, Role, User

__all__ = [
    "AuditEntry",
    "Base",
    "Category",
    "Criterion",
    "Dataset",
    "ExportSnapshot",
    "HumanLabel",
    "JobStatus",
    "JudgeMode",
    "JudgeRun",
    "Judgment",
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
    "RunStatus",
    "SnapshotItem",
    "SpotCheckItem",
    "SpotCheckQueue",
    "TrainingJob",
    "TrainingMetric",
    "User",
    "VersionSource",
    "Verdict",
    "audit",
]
