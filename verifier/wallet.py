"""Verifying a whole wallet: a CLR 2.0 ``ClrCredential``, or a ZIP that carries one.

A wallet is checked twice over: its own proof (whoever assembled the bundle signed it, so a
changed or removed credential shows), and every credential inside it through the one
pipeline, exactly as if it had been presented on its own. One bad credential never hides the
others: each gets its own row and verdict.

A ZIP without a CLR is still accepted: each ``.json`` and ``.jwt`` file in it is verified on its
own (other files, such as QR codes and printable pages, are not credentials and are skipped).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from credentials import CredentialError, MalformedCredentialError, archive
from credentials.errors import CredentialTooLargeError
from credentials.limits import MAX_JSON_DEPTH, most_bundle_values, nesting_within, values_within
from credentials.wallet import inner_credentials, is_clr

from .messages import N_, Message, Nn_, explain
from .pipeline import (
    Check,
    Outcome,
    Verdict,
    VerificationResult,
    _check_dates,
    _Run,
    _verify_embedded,
)
from .resolvers import KeyResolver

#: A wallet (CLR JSON or ZIP) may be this large; each credential in it still obeys the
#: credential limit of the pipeline.
DEFAULT_MAX_WALLET_BYTES = 16 * 1024 * 1024
#: The name Tessera gives the CLR inside its ZIP exports (any CLR file is found, though).
ZIP_WALLET_NAME = "wallet.json"


@dataclass(frozen=True, slots=True)
class WalletEntry:
    """One credential of a wallet and what verifying it found."""

    label: str  # "credential 3", or the file's name inside a ZIP
    result: VerificationResult
    source: Any = None  # what was verified, as found (an object, a JWT, a file's text)


@dataclass(frozen=True, slots=True)
class WalletResult:
    """What verifying a wallet found: the bundle's own checks and one row per credential."""

    form: str  # "clr" or "zip"
    envelope: VerificationResult | None  # the CLR's own checks; None for a ZIP without a CLR
    entries: tuple[WalletEntry, ...]

    @property
    def verified(self) -> bool:
        """True only when the bundle is intact and every credential in it is valid."""
        envelope_ok = self.envelope is None or self.envelope.verified
        return envelope_ok and bool(self.entries) and all(e.result.verified for e in self.entries)

    @property
    def counts(self) -> dict[str, int]:
        """How many credentials got each verdict (for summaries)."""
        out: dict[str, int] = {}
        for entry in self.entries:
            out[str(entry.result.verdict)] = out.get(str(entry.result.verdict), 0) + 1
        return out


def _parse_json(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8").strip().lstrip("\ufeff")
    except UnicodeDecodeError:
        return None
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # ValueError: also an integer of 4,301+ digits
        return None
    return value if nesting_within(value, MAX_JSON_DEPTH) else None


def looks_like_wallet(data: bytes | str | Mapping[str, Any]) -> bool:
    """True for a ZIP archive or a JSON ``ClrCredential`` (cheap: decides the route only)."""
    if isinstance(data, Mapping):
        return is_clr(data)
    # surrogatepass: a lone surrogate makes the bytes invalid UTF-8, so no wallet, not a crash
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if archive.is_zip(raw):
        return True
    head = raw[:4096]
    return head.lstrip().startswith(b"{") and b"ClrCredential" in raw and is_clr(_parse_json(raw))


def _failed(
    code: str, detail: str | None = None, said: Message | None = None
) -> VerificationResult:
    """A failed format check: ``said`` for people (else the code's explanation), ``detail``."""
    check = Check("format", Outcome.FAILED, said or explain(code), code, detail)
    return VerificationResult(Verdict.INVALID, (check,))


def _verify_envelope(
    clr: dict[str, Any], count: int, *, resolver: KeyResolver, now: datetime, where: str
) -> VerificationResult:
    """The CLR's own checks: its shape, its proof (it was not changed), its dates."""
    run = _Run()
    if where:
        said = Message.counted(
            *Nn_(
                "a CLR 2.0 wallet (%(file)s) holding %(num)s credential",
                "a CLR 2.0 wallet (%(file)s) holding %(num)s credentials",
            ),
            count,
            file=where,
        )
    else:
        said = Message.counted(
            *Nn_(
                "a CLR 2.0 wallet holding %(num)s credential",
                "a CLR 2.0 wallet holding %(num)s credentials",
            ),
            count,
        )
    run.passed("format", said)
    _verify_embedded(run, clr, resolver)
    _check_dates(run, clr, now)
    return run.result(clr, "clr")


def _verify_clr(
    clr: dict[str, Any],
    *,
    verify_one: Callable[[Any], VerificationResult],
    resolver: KeyResolver,
    now: datetime,
    where: str = "",
) -> WalletResult:
    try:
        held = inner_credentials(clr)
    except CredentialError as e:
        return WalletResult("clr", _failed(e.code, str(e)), ())
    most = most_bundle_values(len(held))
    if not values_within(clr, most):
        # Checking the wallet's own proof costs time in proportion to its values.
        error = CredentialTooLargeError(
            f"the wallet holds more than {most:,} values for its {len(held):,} credentials; "
            "it is not checked"
        )
        return WalletResult("clr", _failed(error.code, str(error)), ())
    envelope = _verify_envelope(clr, len(held), resolver=resolver, now=now, where=where)
    entries = []
    for number, credential in enumerate(held, start=1):
        if not isinstance(credential, Mapping | str):
            said = Message(N_("this entry is neither a credential object nor a VC-JWT"))
            result = _failed("malformed-credential", said=said)
        else:
            result = _answer(verify_one, credential)
        entries.append(WalletEntry(f"credential {number}", result, credential))
    return WalletResult("clr", envelope, tuple(entries))


def _answer(verify_one: Callable[[Any], VerificationResult], data: Any) -> VerificationResult:
    """verify_one's answer, never an exception: one unreadable credential hides nothing."""
    try:
        return verify_one(data)
    except CredentialError as e:
        return _failed(e.code, f"the credential could not be read: {e}")


def _verify_zip(
    raw: bytes,
    *,
    verify_one: Callable[[Any], VerificationResult],
    resolver: KeyResolver,
    now: datetime,
) -> WalletResult:
    try:
        files = archive.read_zip(raw)
    except CredentialError as e:
        return WalletResult("zip", _failed(e.code, str(e)), ())
    wallets = [
        (entry, parsed)
        for entry in files
        if entry.name.lower().endswith(".json")
        and b"ClrCredential" in entry.data
        and is_clr(parsed := _parse_json(entry.data))
    ]
    if len(wallets) > 1:
        names = ", ".join(entry.name for entry, _ in wallets[:5])
        return WalletResult(
            "zip",
            _failed(
                "invalid-wallet",
                said=Message.of(
                    N_("the archive holds several wallets (%(names)s); upload one"), names=names
                ),
            ),
            (),
        )
    if wallets:
        entry, clr = wallets[0]
        found = _verify_clr(
            clr, verify_one=verify_one, resolver=resolver, now=now, where=entry.name
        )
        return WalletResult("zip", found.envelope, found.entries)
    entries = [
        WalletEntry(entry.name, _answer(verify_one, text), text)
        for entry in files
        if entry.name.lower().endswith((".json", ".jwt"))
        for text in [entry.data.decode("utf-8", "replace").strip()]
    ]
    if not entries:
        return WalletResult(
            "zip",
            _failed(
                "invalid-wallet",
                said=Message(
                    N_("the archive holds no wallet.json and no .json or .jwt credential files")
                ),
            ),
            (),
        )
    return WalletResult("zip", None, tuple(entries))


def verify_wallet(
    data: bytes | str | Mapping[str, Any],
    *,
    verify_one: Callable[[Any], VerificationResult],
    resolver: KeyResolver,
    now: datetime,
    max_bytes: int = DEFAULT_MAX_WALLET_BYTES,
    trusted_issuers: Container[str] = (),
) -> WalletResult:
    """Verify a wallet (CLR JSON, or a ZIP carrying one) and every credential in it.

    ``verify_one`` is the host's single-credential pipeline (with its resolvers, status lists
    and trust list), so a credential in a wallet is judged exactly as one presented alone.
    ``resolver`` resolves the key that signed the bundle. ``trusted_issuers`` is accepted for
    symmetry with the pipeline; the bundle's signer need not be recognised, as each credential
    carries its own issuer's proof.
    """
    del trusted_issuers
    if isinstance(data, Mapping):
        if not nesting_within(data, MAX_JSON_DEPTH):
            return WalletResult(
                "clr", _failed("malformed-credential", "the JSON is nested too deeply"), ()
            )
        return _verify_clr(dict(data), verify_one=verify_one, resolver=resolver, now=now)
    try:
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    except UnicodeEncodeError:  # a lone surrogate, as a JSON string can carry
        error = MalformedCredentialError("the wallet is not valid Unicode text")
        return WalletResult("clr", _failed(error.code, str(error)), ())
    if len(raw) > max_bytes:
        error = CredentialTooLargeError(
            f"the wallet is {len(raw):,} bytes; wallets larger than {max_bytes:,} bytes are "
            "not accepted"
        )
        return WalletResult("clr", _failed(error.code, str(error)), ())
    if archive.is_zip(raw):
        return _verify_zip(raw, verify_one=verify_one, resolver=resolver, now=now)
    parsed = _parse_json(raw)
    if not is_clr(parsed):
        error = MalformedCredentialError("the input is not a CLR wallet or a ZIP archive")
        return WalletResult("clr", _failed(error.code, str(error)), ())
    return _verify_clr(parsed, verify_one=verify_one, resolver=resolver, now=now)
