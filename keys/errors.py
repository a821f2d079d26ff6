"""Errors raised by key management."""

from __future__ import annotations


class KeyManagementError(Exception):
    """Base class of key-management errors."""

    code = "key-error"


class KeyNotFoundError(KeyManagementError):
    """No key with that id, or no active key for that purpose."""

    code = "key-not-found"


class KeyDecryptionError(KeyManagementError):
    """A private key could not be decrypted with any configured key-encryption key."""

    code = "key-decryption-failed"


class RotationNotSupportedError(KeyManagementError):
    """The identifier cannot rotate keys (a ``did:key`` is its key)."""

    code = "rotation-not-supported"


class InvalidKekError(KeyManagementError):
    """``TESSERA_KEK`` is missing or is not a list of Fernet keys."""

    code = "invalid-kek"
