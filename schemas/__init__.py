"""marshmallow schemas at the HTTP edge (and for CLI input): every request and response body."""

from __future__ import annotations

from .issuing import AchievementCreateSchema, IssueRequestSchema, OrganisationCreateSchema
from .problem import ProblemSchema
from .verification import CheckSchema, VerificationResultSchema

__all__ = [
    "AchievementCreateSchema",
    "CheckSchema",
    "IssueRequestSchema",
    "OrganisationCreateSchema",
    "ProblemSchema",
    "VerificationResultSchema",
]
