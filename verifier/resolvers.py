"""Where the verifier gets issuers' public keys. Injected, so tests can pass fakes.

A key is trusted only because the issuer's own published keys contain it: a credential
never supplies its own key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from credentials import InvalidProofError, UnresolvableKeyError, VerificationKey
from credentials.db import read
from credentials.multikey import resolve_did_key
from credentials.proofs.base import PublicKey
from keys import KeyState, SigningKey
from keys.crypto import load_public_jwk


class KeyResolver(Protocol):
    def resolve(self, key_id: str) -> VerificationKey:
        """Return the public key a DID URL names.

        Raises:
            UnresolvableKeyError: the key cannot be looked up from here (could not check).
            InvalidProofError: the issuer is known and does not publish that key (invalid).
        """
        ...


class DidKeyResolver:
    """Resolves ``did:key`` offline: the DID is the key."""

    def resolve(self, key_id: str) -> VerificationKey:
        did, public_key = resolve_did_key(key_id)
        return VerificationKey(
            id=key_id if "#" in key_id else f"{did}#{did.removeprefix('did:key:')}",
            controller=did,
            algorithm="EdDSA",
            public_key=public_key,
        )


#: What verifying needs of a stored key: never its encrypted private half. Built once, since
#: every verification of one of our credentials asks it.
_STORED_KEY = select(
    SigningKey.controller, SigningKey.algorithm, SigningKey.state, SigningKey.public_jwk
).where(SigningKey.key_id == bindparam("key_id"))


@lru_cache(maxsize=1_024)
def _public_key(public_jwk: str) -> PublicKey:
    """The key a stored JWK holds. Parsing one (an RSA key above all) costs more than the
    query that finds it; a JWK never changes, so the key is kept. Whether it may still be
    used (its state) is read from the database on every call."""
    return load_public_jwk(json.loads(public_jwk))


class InstanceKeyResolver:
    """Resolves the keys of the centres (and the instance) this installation hosts."""

    def __init__(self, session: Session, *, authority: str | None = None) -> None:
        """``authority``: this instance's own did:web (``did:web:host``). Every DID under it is
        ours, so a key we do not have there is a forgery, not something to look up elsewhere."""
        self._session = session
        self._authority = authority

    def knows(self, key_id: str) -> bool:
        controller = key_id.partition("#")[0]
        if self._authority and (
            controller == self._authority or controller.startswith(self._authority + ":")
        ):
            return True
        return (
            self._session.scalar(
                select(SigningKey.id).where(SigningKey.controller == controller).limit(1)
            )
            is not None
        )

    def resolve(self, key_id: str) -> VerificationKey:
        record = read(self._session, _STORED_KEY, {"key_id": key_id}).first()
        if record is None:
            if self.knows(key_id):
                raise InvalidProofError(f"{key_id.partition('#')[0]} publishes no key {key_id!r}")
            raise UnresolvableKeyError(
                f"the keys of {key_id.partition('#')[0]!r} are not known here"
            )
        if record.state == KeyState.COMPROMISED:
            raise InvalidProofError(f"key {key_id} was reported compromised by its issuer")
        return VerificationKey(
            id=key_id,
            controller=record.controller,
            algorithm=record.algorithm,
            public_key=_public_key(record.public_jwk),
        )


class ChainResolver:
    """Tries resolvers in order; the first that knows the key answers."""

    def __init__(self, resolvers: Sequence[KeyResolver]) -> None:
        self._resolvers = list(resolvers)

    def resolve(self, key_id: str) -> VerificationKey:
        last: UnresolvableKeyError | None = None
        for resolver in self._resolvers:
            try:
                return resolver.resolve(key_id)
            except UnresolvableKeyError as e:
                last = e
        raise last or UnresolvableKeyError(f"no resolver for {key_id!r}")


def instance_resolver(session: Session) -> ChainResolver:
    """Our own centres' keys first, then did:key."""
    return ChainResolver([InstanceKeyResolver(session), DidKeyResolver()])
