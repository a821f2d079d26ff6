"""marshmallow schemas at the HTTP edge (and for CLI input): every request and response body."""

from __future__ import annotations

from .api import (
    IssueCredentialRequestSchema,
    IssueCredentialResponseSchema,
    PresentationResultSchema,
    VcApiMessageSchema,
    VcApiPresentationResponseSchema,
    VcApiVerifyResponseSchema,
    VerifyCredentialRequestSchema,
    VerifyPresentationRequestSchema,
    VerifyRequestSchema,
    VerifyResponseSchema,
)
from .issuing import AchievementCreateSchema, IssueRequestSchema, OrganisationCreateSchema
from .problem import ProblemSchema
from .verification import CheckSchema, VerificationResultSchema

__all__ = [
    "AchievementCreateSchema",
    "CheckSchema",
    "IssueCredentialRequestSchema",
    "IssueCredentialResponseSchema",
    "IssueRequestSchema",
    "OrganisationCreateSchema",
    "PresentationResultSchema",
    "ProblemSchema",
    "VcApiMessageSchema",
    "VcApiPresentationResponseSchema",
    "VcApiVerifyResponseSchema",
    "VerificationResultSchema",
    "VerifyCredentialRequestSchema",
    "VerifyPresentationRequestSchema",
    "VerifyRequestSchema",
    "VerifyResponseSchema",
]
