"""Key management: generate, encrypt at rest, rotate and publish signing keys."""

from __future__ import annotations

from .crypto import LocalSigner, load_kek, new_kek
from .did import did_web, did_web_document_url
from .errors import (
    InvalidKekError,
    KeyDecryptionError,
    KeyManagementError,
    KeyNotFoundError,
    RotationNotSupportedError,
)
from .models import KeyPurpose, KeyState, SigningKey
from .ring import KeyRing, find_verification_key, verification_key

__all__ = [
    "InvalidKekError",
    "KeyDecryptionError",
    "KeyManagementError",
    "KeyNotFoundError",
    "KeyPurpose",
    "KeyRing",
    "KeyState",
    "LocalSigner",
    "RotationNotSupportedError",
    "SigningKey",
    "did_web",
    "did_web_document_url",
    "find_verification_key",
    "load_kek",
    "new_kek",
    "verification_key",
]
