"""A controller's key ring: the keys of one training centre (or of the instance) over time."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.fernet import MultiFernet
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from credentials.multikey import (
    did_key_from_ed25519,
    did_key_verification_method,
    resolve_did_key,
)
from credentials.proofs.base import VerificationKey

from .crypto import (
    LocalSigner,
    PrivateKey,
    decrypt_private_key,
    encrypt_private_key,
    generate_private_key,
    load_public_jwk,
    public_jwk,
)
from .did import did_document
from .errors import KeyNotFoundError, RotationNotSupportedError
from .models import KeyPurpose, KeyState, SigningKey

PUBLISHED_STATES = (KeyState.ACTIVE, KeyState.VERIFY_ONLY, KeyState.RETIRED)


@dataclass(frozen=True, slots=True)
class KeyPlan:
    """What keys an identifier needs: the JWT algorithm decides whether one key serves both."""

    jwt_algorithm: str

    def purposes(self) -> list[tuple[KeyPurpose, str]]:
        if self.jwt_algorithm == "EdDSA":
            return [(KeyPurpose.BOTH, "EdDSA")]
        return [(KeyPurpose.DATA_INTEGRITY, "EdDSA"), (KeyPurpose.JWT, self.jwt_algorithm)]


def verification_key(record: SigningKey) -> VerificationKey:
    """The public side of a stored key, as the credential core verifies with it."""
    return VerificationKey(
        id=record.key_id,
        controller=record.controller,
        algorithm=record.algorithm,
        public_key=load_public_jwk(json.loads(record.public_jwk)),
    )


class KeyRing:
    """The keys of one controller DID, stored encrypted in ``signing_key``.

    Create one per unit of work; it reads and writes through the session it is given and
    never commits (the service layer owns the transaction).
    """

    def __init__(
        self, session: Session, kek: MultiFernet, *, controller: str, organisation_id: int | None
    ) -> None:
        self._session = session
        self._kek = kek
        self.controller = controller
        self.organisation_id = organisation_id

    # -- creating ---------------------------------------------------------------------------

    @classmethod
    def create_did_key(
        cls, session: Session, kek: MultiFernet, *, organisation_id: int | None, now: datetime
    ) -> KeyRing:
        """Generate an Ed25519 key and a ring whose controller is its ``did:key``.

        A did:key is self-contained and works offline, but it *is* its key: it cannot rotate.
        """
        private_key = generate_private_key("EdDSA")
        did = did_key_from_ed25519(private_key.public_key())  # type: ignore[arg-type]
        ring = cls(session, kek, controller=did, organisation_id=organisation_id)
        ring._store(
            private_key,
            KeyPurpose.BOTH,
            "EdDSA",
            version=1,
            now=now,
            key_id=did_key_verification_method(did),
        )
        return ring

    @classmethod
    def create_did_web(
        cls,
        session: Session,
        kek: MultiFernet,
        *,
        did: str,
        organisation_id: int | None,
        jwt_algorithm: str,
        now: datetime,
    ) -> KeyRing:
        """Generate the first keys of a did:web controller (version 1)."""
        ring = cls(session, kek, controller=did, organisation_id=organisation_id)
        ring._generate(KeyPlan(jwt_algorithm), version=1, now=now)
        return ring

    def _next_fragment(self) -> str:
        count = self._session.scalar(
            select(func.count())
            .select_from(SigningKey)
            .where(SigningKey.controller == self.controller)
        )
        return f"key-{(count or 0) + 1}"

    def _generate(self, plan: KeyPlan, *, version: int, now: datetime) -> None:
        for purpose, algorithm in plan.purposes():
            self._store(
                generate_private_key(algorithm),
                purpose,
                algorithm,
                version=version,
                now=now,
                key_id=f"{self.controller}#{self._next_fragment()}",
            )

    def _store(
        self,
        private_key: PrivateKey,
        purpose: KeyPurpose,
        algorithm: str,
        *,
        version: int,
        now: datetime,
        key_id: str,
    ) -> None:
        record = SigningKey(
            organisation_id=self.organisation_id,
            controller=self.controller,
            key_id=key_id,
            version=version,
            purpose=purpose,
            algorithm=algorithm,
            state=KeyState.ACTIVE,
            public_jwk=json.dumps(
                public_jwk(private_key.public_key(), kid=key_id, algorithm=algorithm)
            ),
            encrypted_private_key=encrypt_private_key(self._kek, private_key),
            created_at=now,
            state_changed_at=now,
        )
        self._session.add(record)
        self._session.flush()

    # -- reading ----------------------------------------------------------------------------

    def records(self) -> Sequence[SigningKey]:
        """Every key this controller ever had, oldest first."""
        return self._session.scalars(
            select(SigningKey)
            .where(SigningKey.controller == self.controller)
            .order_by(SigningKey.id)
        ).all()

    def active(self, purpose: KeyPurpose) -> LocalSigner:
        """The signer for new credentials, for ``purpose``.

        Raises:
            KeyNotFoundError: the controller has no active key for that purpose.
        """
        record = self._session.scalars(
            select(SigningKey)
            .where(
                SigningKey.controller == self.controller,
                SigningKey.state == KeyState.ACTIVE,
                SigningKey.purpose.in_([purpose, KeyPurpose.BOTH]),
            )
            .order_by(SigningKey.version.desc())
        ).first()
        if record is None:
            raise KeyNotFoundError(f"{self.controller} has no active {purpose.value} key")
        return LocalSigner(
            verification_method=record.key_id,
            algorithm=record.algorithm,
            _private_key=decrypt_private_key(self._kek, record.encrypted_private_key),
        )

    def published(self) -> list[SigningKey]:
        """The keys verifiers may use: every key except compromised ones."""
        return [r for r in self.records() if r.state in PUBLISHED_STATES]

    def did_document(self) -> dict[str, Any]:
        """The controller's DID document, listing every published key."""
        return did_document(
            self.controller,
            [(verification_key(r), json.loads(r.public_jwk)) for r in self.published()],
        )

    def public_jwks(self) -> dict[str, Any]:
        """A JWK Set of every published key (``kid`` = absolute DID URL)."""
        return {"keys": [json.loads(r.public_jwk) for r in self.published()]}

    # -- rotating ---------------------------------------------------------------------------

    def rotate(self, *, now: datetime) -> list[SigningKey]:
        """Generate new active keys; the old ones become ``verify_only`` and stay published.

        Returns the new key records.

        Raises:
            RotationNotSupportedError: the controller is a ``did:key``.
            KeyNotFoundError: the controller has no keys yet.
        """
        if self.controller.startswith("did:key:"):
            raise RotationNotSupportedError(
                "a did:key identifier is its key and cannot rotate; "
                "create the centre with --did-method web to be able to rotate keys"
            )
        current = [r for r in self.records() if r.state == KeyState.ACTIVE]
        if not current:
            raise KeyNotFoundError(f"{self.controller} has no active key to rotate")
        jwt_record = next(
            (r for r in current if r.purpose in (KeyPurpose.JWT, KeyPurpose.BOTH)), current[0]
        )
        version = max(r.version for r in self.records()) + 1
        for record in current:
            record.state = KeyState.VERIFY_ONLY
            record.state_changed_at = now
        self._session.flush()
        self._generate(KeyPlan(jwt_record.algorithm), version=version, now=now)
        return [r for r in self.records() if r.version == version]


def find_verification_key(session: Session, key_id: str) -> tuple[VerificationKey, SigningKey]:
    """Look up one of this instance's keys by its DID URL.

    Raises:
        KeyNotFoundError: no key of this instance has that id.
    """
    record = session.scalars(select(SigningKey).where(SigningKey.key_id == key_id)).first()
    if record is None:
        raise KeyNotFoundError(f"no key {key_id!r} on this instance")
    return verification_key(record), record


__all__ = ["KeyRing", "find_verification_key", "resolve_did_key", "verification_key"]
