"""Verification: one pipeline for every entry point, and the resolvers it uses."""

from __future__ import annotations

from .pipeline import Check, Outcome, Verdict, VerificationResult, verify_credential
from .resolvers import ChainResolver, DidKeyResolver, InstanceKeyResolver, KeyResolver

__all__ = [
    "ChainResolver",
    "Check",
    "DidKeyResolver",
    "InstanceKeyResolver",
    "KeyResolver",
    "Outcome",
    "Verdict",
    "VerificationResult",
    "verify_credential",
]
