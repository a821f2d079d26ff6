"""Building this instance's verifier kit: every centre's keys and current signed status lists.

The kit is signed by the instance's own did:web key (the one that signs wallet bundles). A
verifier trusts it only if it pinned that key's Multikey (``signer_pin``), which
``tessera kit export`` prints; the instance's DID document is in the kit too, so a CLR
wallet this instance signed also verifies offline.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import MultiFernet
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from credentials import issuer_id
from credentials import kit as kits
from credentials.errors import StatusUnavailableError
from keys import KeyPurpose, KeyRing, verification_key
from verifier.did_web import DidWebResolver
from verifier.http import GuardedHttpClient
from verifier.status import RemoteStatusSource, verify_list_credential

from . import services, status
from .models import Organisation, StatusList

#: How long an exported kit may be used, unless the operator says otherwise. Revocation data
#: in it goes stale much sooner (verifiers' TESSERA_KIT_MAX_AGE, 7 days by default).
DEFAULT_VALID_FOR = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class ExportedKit:
    """A signed kit, and what an operator needs to tell verifiers to pin."""

    document: dict[str, Any]
    signer: str  # the verification method that signed it
    signer_pin: str  # its Multikey: what verifiers pin
    issuers: int
    status_lists: int

    def json(self) -> str:
        return json.dumps(self.document, ensure_ascii=False, indent=1)


def _status_lists(
    session: Session,
    kek: MultiFernet,
    organisation: Organisation,
    *,
    public_url: str,
    now: datetime,
    ttl: int,
) -> list[dict[str, Any]]:
    """Each of the centre's lists, signed exactly as /orgs/<slug>/status/<n> serves it now."""
    entries = []
    for status_list in session.scalars(
        select(StatusList)
        .where(StatusList.organisation_id == organisation.id)
        .order_by(StatusList.purpose, StatusList.sequence)
    ):
        publication = status.publish(
            session, kek, status_list, public_url=public_url, now=now, ttl=ttl
        )
        entries.append(
            kits.status_list_entry(
                status.list_url(public_url, organisation, status_list.sequence),
                json.loads(publication.document),
                now,
            )
        )
    return entries


def fetch_issuers(
    client: GuardedHttpClient, dids: Sequence[str], list_urls: Sequence[str], *, now: datetime
) -> list[dict[str, Any]]:
    """Other sites' did:web issuers as they publish themselves now, for a kit to carry.

    Each DID document is fetched through the guarded client (its allowlist, timeouts and size
    caps apply); each status list is fetched, its proof checked with its issuer's published
    keys, and filed under that issuer, which must be one of ``dids``. The list is carried
    exactly as served, so offline verifiers check the issuer's own proof again.

    Raises:
        CredentialError: a document or list could not be fetched or does not verify; the
            message names which.
    """
    resolver = DidWebResolver(client)
    documents = {did: resolver.resolve_document(did) for did in dict.fromkeys(dids)}
    lists: dict[str, list[dict[str, Any]]] = {did: [] for did in documents}
    for url in dict.fromkeys(list_urls):
        fetched = client.get(url, accept=RemoteStatusSource.ACCEPT)
        try:
            body = fetched.body.decode("utf-8").strip()
            raw: dict[str, Any] | str = body if not body.startswith("{") else fetched.json()
        except ValueError as e:
            raise StatusUnavailableError(f"the status list at {url} is not readable: {e}") from e
        credential = verify_list_credential(raw, resolver)
        signed_by = issuer_id(credential)
        if signed_by not in lists:
            raise StatusUnavailableError(
                f"the status list at {url} is published by {signed_by[:200]}: add --issuer "
                "for it, or leave the list out"
            )
        if credential.get("id") != url:
            raise StatusUnavailableError(f"the status list at {url} names another id")
        lists[signed_by].append(kits.status_list_entry(url, raw, now))
    return [
        kits.issuer_entry(
            did, did.removeprefix("did:web:"), did_document=document, status_lists=lists[did]
        )
        for did, document in documents.items()
    ]


def signer_pin(ring: KeyRing) -> tuple[str, str]:
    """The instance key that signs kits and its pin (Multikey)."""
    signer = ring.active(KeyPurpose.DATA_INTEGRITY)
    record = next(r for r in ring.records() if r.key_id == signer.verification_method)
    public_key = verification_key(record).public_key
    if not isinstance(public_key, Ed25519PublicKey):
        raise ValueError("the instance's signing key is not Ed25519")
    return signer.verification_method, kits.fingerprint(public_key)


def export_kit(
    session: Session,
    kek: MultiFernet,
    *,
    public_url: str,
    now: datetime,
    ttl: int,
    valid_for: timedelta = DEFAULT_VALID_FOR,
    fetched: Sequence[dict[str, Any]] = (),
    also: Sequence[kits.Kit] = (),
) -> ExportedKit:
    """A fresh kit of every centre on this instance, signed by the instance.

    ``ttl`` is the status lists' freshness bound (TESSERA_STATUS_LIST_TTL): lists are
    re-signed when changed or half that old, as when they are served. ``also``: other
    instances' kits, already checked against their pinned signers; their issuers are carried
    too (each list still with its own issuer's proof), and this instance then vouches for
    them. ``fetched``: other sites' issuers from :func:`fetch_issuers`, likewise vouched for.
    An issuer this instance hosts is never taken from elsewhere.
    """
    ring = services.ensure_instance_keys(session, kek, public_url=public_url, now=now)
    host = urlsplit(public_url).hostname or public_url
    issuers = [
        kits.issuer_entry(
            ring.controller,
            f"Tessera at {host}",
            did_document=ring.did_document(),
            jwks=ring.public_jwks(),
        )
    ]
    lists = 0
    for organisation in services.list_organisations(session):
        centre = services.key_ring(session, kek, organisation)
        entries = _status_lists(session, kek, organisation, public_url=public_url, now=now, ttl=ttl)
        lists += len(entries)
        issuers.append(
            kits.issuer_entry(
                organisation.did,
                organisation.name,
                did_document=centre.did_document(),
                jwks=centre.public_jwks(),
                status_lists=entries,
            )
        )
    seen = {entry["id"] for entry in issuers}
    for entry in fetched:
        if entry["id"] not in seen:
            seen.add(entry["id"])
            lists += len(entry["statusLists"])
            issuers.append(entry)
    for other in also:
        for carried in other.issuers:
            if carried.id in seen:
                continue
            seen.add(carried.id)
            lists += len(carried.status_lists)
            issuers.append(
                kits.issuer_entry(
                    carried.id,
                    carried.name,
                    did_document=carried.did_document,
                    jwks=carried.jwks,
                    status_lists=[
                        kits.status_list_entry(s.id, s.credential, s.fetched)
                        for s in carried.status_lists
                    ],
                )
            )
    unsigned = kits.build_kit(
        signer_did=ring.controller, issuers=issuers, issued=now, valid_until=now + valid_for
    )
    method, pin = signer_pin(ring)
    document = kits.sign_kit(unsigned, ring.active(KeyPurpose.DATA_INTEGRITY))
    return ExportedKit(document, method, pin, len(issuers), lists)
