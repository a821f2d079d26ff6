"""Wallet bundles: a worker's credentials in one 1EdTech CLR 2.0 ``ClrCredential``.

Spec: https://www.imsglobal.org/spec/clr/v2p0/ (``ClrCredential``, ``ClrSubject``). The CLR
is itself a verifiable credential, signed by whoever assembled it (here, the instance); its
``credentialSubject.verifiableCredential`` holds each credential exactly as issued, so each
one still verifies on its own, with its own issuer's proof, whoever signed the bundle.

Data only: images, QR codes and printable pages are rendered at the edge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from .dates import format_datetime
from .errors import MalformedCredentialError
from .jsonld import OB_V3_CONTEXT, VC_V2_CONTEXT

CLR_V2_CONTEXT = "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json"
CLR_CONTEXT: tuple[str, ...] = (VC_V2_CONTEXT, CLR_V2_CONTEXT, OB_V3_CONTEXT)
CLR_TYPE: tuple[str, ...] = ("VerifiableCredential", "ClrCredential")
#: A wallet holds at most this many credentials: enough for a working life, small enough to
#: verify in one request.
MAX_WALLET_CREDENTIALS = 1000


class WalletError(MalformedCredentialError):
    """A CLR wallet whose structure is wrong (no subject, no credentials, too many)."""

    code = "invalid-wallet"


def build_clr(
    credentials: Sequence[Mapping[str, Any]],
    *,
    clr_id: str,
    issuer: Mapping[str, Any],
    name: str,
    valid_from: datetime,
    holder_identifiers: Sequence[Mapping[str, Any]] = (),
    holder_id: str | None = None,
    description: str | None = None,
    associations: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Return an unsigned ``ClrCredential`` carrying ``credentials`` unchanged.

    ``holder_identifiers`` are ``IdentityObject``s naming the worker (their hashed e-mail),
    since most workers have no DID of their own. ``associations`` are CLR 2.0
    ``Association``s between achievements of the credentials (``type``, ``associationType``,
    ``sourceId``, ``targetId``): a pathway achievement ``isParentOf`` each of its parts.

    Raises:
        WalletError: no credentials, or more than :data:`MAX_WALLET_CREDENTIALS`.
    """
    if not credentials:
        raise WalletError("a wallet needs at least one credential")
    if len(credentials) > MAX_WALLET_CREDENTIALS:
        raise WalletError(f"a wallet holds at most {MAX_WALLET_CREDENTIALS:,} credentials")
    subject: dict[str, Any] = {}
    if holder_id:
        subject["id"] = holder_id
    subject["type"] = ["ClrSubject"]
    if holder_identifiers:
        subject["identifier"] = [dict(i) for i in holder_identifiers]
    subject["verifiableCredential"] = [dict(c) for c in credentials]
    if associations:
        subject["association"] = [dict(a) for a in associations]
    clr: dict[str, Any] = {
        "@context": list(CLR_CONTEXT),
        "id": clr_id,
        "type": list(CLR_TYPE),
        "name": name,
    }
    if description:
        clr["description"] = description
    clr |= {
        "issuer": dict(issuer),
        "validFrom": format_datetime(valid_from),
        "credentialSubject": subject,
    }
    return clr


def is_clr(document: object) -> bool:
    """True for a JSON object whose ``type`` names ``ClrCredential``."""
    if not isinstance(document, Mapping):
        return False
    types = document.get("type")
    return types == "ClrCredential" or (isinstance(types, list) and "ClrCredential" in types)


def inner_credentials(clr: Mapping[str, Any]) -> list[Any]:
    """The credentials a CLR carries, as found (objects, or strings such as compact JWTs).

    Raises:
        WalletError: no ``ClrSubject``, no credentials, or more than the limit.
    """
    subject = clr.get("credentialSubject")
    if not isinstance(subject, Mapping):
        raise WalletError("the wallet's credentialSubject is not a ClrSubject object")
    held = subject.get("verifiableCredential")
    if isinstance(held, Mapping | str):
        held = [held]
    if not isinstance(held, list) or not held:
        raise WalletError(
            "the wallet holds no credentials (credentialSubject.verifiableCredential)"
        )
    if len(held) > MAX_WALLET_CREDENTIALS:
        raise WalletError(
            f"the wallet holds {len(held):,} credentials; at most "
            f"{MAX_WALLET_CREDENTIALS:,} are accepted"
        )
    return list(held)
