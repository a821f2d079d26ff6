"""How this instance verifies: its own keys and lists first, then public data, guarded."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import current_app

from verifier import VerificationResult, verify_credential
from verifier.backend import PublishedCredential
from verifier.resolvers import instance_resolver
from verifier.status import StatusChain

from . import services
from .clock import utcnow
from .db import db
from .errors import NotFoundError
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


class InstanceBackend:
    """The verification backend of the combined app (see verifier.backend)."""

    def verify(self, data: bytes | str | Mapping[str, Any]) -> VerificationResult:
        return verify(data)

    def lookup(self, public_id: str) -> PublishedCredential | None:
        if not public_id or len(public_id) > 64:
            return None
        try:
            record = services.get_credential(db(), public_id)
        except NotFoundError:
            return None
        if record.public_id != public_id:  # only the opaque id opens the public page
            return None
        return PublishedCredential(
            public_id=record.public_id,
            document=json.loads(record.document),
            jwt=record.jwt,
            verify_url=self.verify_url(record.public_id),
            revoked_at=record.revoked_at,
            revocation_reason=record.revocation_reason,
        )

    def verify_url(self, public_id: str) -> str:
        return f"{current_app.config['PUBLIC_URL']}/v/{public_id}"
