"""How this instance verifies: its own keys and lists first, then public data, guarded."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app

from verifier import VerificationResult, verify_credential
from verifier.resolvers import instance_resolver
from verifier.status import StatusChain

from . import services
from .clock import utcnow
from .db import db
from .status import LocalStatusSource


def trusted_issuers() -> set[str]:
    """Our own centres, plus the issuers the operator listed in TESSERA_TRUSTED_ISSUERS."""
    configured = set(current_app.config["TRUSTED_ISSUERS"])
    return {o.did for o in services.list_organisations(db())} | configured


def verify(data: bytes | str | Mapping[str, Any]) -> VerificationResult:
    """Run the one pipeline with this instance's resolvers, status sources and trust list."""
    session = db()
    return verify_credential(
        data,
        resolver=instance_resolver(session),
        status=StatusChain([LocalStatusSource(session, current_app.config["PUBLIC_URL"])]),
        now=utcnow(),
        trusted_issuers=trusted_issuers(),
        max_bytes=current_app.config["MAX_CREDENTIAL_BYTES"],
    )
