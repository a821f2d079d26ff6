"""The signing_key table: every key a centre (or the instance) ever signed with."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from credentials.db import Base


class KeyState(enum.StrEnum):
    """Life cycle of a signing key.

    - ``active``: signs new credentials; published.
    - ``verify_only``: rotated out; published; everything it signed still verifies.
    - ``retired``: published; verifies only what it signed before ``state_changed_at``.
    - ``compromised``: not trusted for anything; kept so the verifier can say why.
    """

    ACTIVE = "active"
    VERIFY_ONLY = "verify_only"
    RETIRED = "retired"
    COMPROMISED = "compromised"


class KeyPurpose(enum.StrEnum):
    DATA_INTEGRITY = "data-integrity"  # eddsa-rdfc-2022 embedded proofs
    JWT = "jwt"  # VC-JWT
    BOTH = "both"  # one Ed25519 key for both (did:key centres, EdDSA JWT centres)


class SigningKey(Base):
    __tablename__ = "signing_key"
    __table_args__ = (UniqueConstraint("controller", "version", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # NULL for the instance's own key (it signs wallet bundles).
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisation.id", ondelete="RESTRICT"), index=True
    )
    controller: Mapped[str] = mapped_column(String(512), index=True)
    key_id: Mapped[str] = mapped_column(String(600), unique=True)
    version: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[KeyPurpose] = mapped_column(
        Enum(
            KeyPurpose, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]
        )
    )
    algorithm: Mapped[str] = mapped_column(String(10))
    state: Mapped[KeyState] = mapped_column(
        Enum(KeyState, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])
    )
    public_jwk: Mapped[str] = mapped_column(Text)
    encrypted_private_key: Mapped[bytes] = mapped_column(LargeBinary)  # never logged or returned
    created_at: Mapped[datetime]
    state_changed_at: Mapped[datetime]
