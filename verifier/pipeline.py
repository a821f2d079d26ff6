"""The one verification pipeline. Every entry point (CLI, API, pages) calls verify_credential.

Size limits -> detect the form -> strict parse -> resolve the key (it must belong to the
issuer) -> proof -> claim/body consistency -> dates -> status -> schema -> issuer recognised.
Each step yields a named check that passed, failed or could not be checked; the verdict is
derived from the checks. "Not verified" is an answer, never an exception.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from credentials import (
    CredentialError,
    CredentialTooLargeError,
    MalformedCredentialError,
    SchemaValidationError,
    UnresolvableKeyError,
    baking,
    issuer_id,
    portable,
    validate_open_badge,
)
from credentials.dates import parse_datetime
from credentials.errors import StatusUnavailableError
from credentials.limits import MAX_CREDENTIAL_VALUES, MAX_JSON_DEPTH, nesting_within
from credentials.proofs import data_integrity, jwt_vc
from credentials.status_list import get_bit, parse_status_entries

from .messages import N_, Message, explain
from .resolvers import KeyResolver
from .signatures import verify_embedded_proof
from .status import StatusSource

DEFAULT_MAX_BYTES = 2 * 1024 * 1024
_COMPACT_JWS = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
_ENVELOPED_PREFIXES = ("data:application/vc+jwt,", "data:application/vc-ld+jwt,")
#: The carrier named in the format check when the input was a portable QR payload.
_PORTABLE_QR = "portable QR"
#: What the format check says it found, by where the credential came from.
_FORMS = {
    ("jwt", None): N_("a VC-JWT (compact JWS)"),
    ("jwt", "PNG"): N_("a VC-JWT (compact JWS), baked into a PNG badge"),
    ("jwt", "SVG"): N_("a VC-JWT (compact JWS), baked into an SVG badge"),
    ("jwt", _PORTABLE_QR): N_("a VC-JWT (compact JWS), restored from a portable QR code"),
    ("json", None): N_("a JSON credential with an embedded proof"),
    ("json", "PNG"): N_("a JSON credential with an embedded proof, baked into a PNG badge"),
    ("json", "SVG"): N_("a JSON credential with an embedded proof, baked into an SVG badge"),
}


class Outcome(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    COULD_NOT_CHECK = "could not check"


class Verdict(enum.StrEnum):
    VALID = "valid"
    REVOKED = "revoked"
    EXPIRED = "expired"
    NOT_YET_VALID = "not yet valid"
    INVALID = "invalid"
    ISSUER_NOT_RECOGNISED = "issuer not recognised"
    COULD_NOT_CHECK = "could not check"


@dataclass(frozen=True, slots=True)
class Check:
    """One named step of verification and what it found, in words a person can read.

    ``said`` is for people, in any language (see :mod:`verifier.messages`); ``detail`` is the
    technical English of the error that failed the step, if one did; ``message`` is the
    English the API, the CLI and the logs give.
    """

    name: str
    outcome: Outcome
    said: Message
    code: str | None = None
    detail: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.said, str):  # plain words: a message with nothing to fill in
            object.__setattr__(self, "said", Message(self.said))

    @property
    def message(self) -> str:
        return self.detail if self.detail is not None else str(self.said)


@dataclass(frozen=True, slots=True)
class VerificationResult:
    verdict: Verdict
    checks: tuple[Check, ...]
    credential: dict[str, Any] | None = None
    form: str | None = None

    @property
    def verified(self) -> bool:
        return self.verdict == Verdict.VALID

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)


@dataclass
class _Run:
    checks: list[Check] = field(default_factory=list)

    def passed(self, name: str, said: Message) -> None:
        self.checks.append(Check(name, Outcome.PASSED, said))

    def failed(self, name: str, said: Message, code: str, detail: str | None = None) -> None:
        self.checks.append(Check(name, Outcome.FAILED, said, code, detail))

    def unknown(self, name: str, said: Message, code: str, detail: str | None = None) -> None:
        self.checks.append(Check(name, Outcome.COULD_NOT_CHECK, said, code, detail))

    def error(self, name: str, error: CredentialError, detail: str | None = None) -> None:
        """A step failed by ``error``: explained by its code, its own words the detail."""
        self.failed(name, explain(error.code), error.code, detail or str(error))

    def result(self, credential: dict[str, Any] | None, form: str | None) -> VerificationResult:
        return VerificationResult(_verdict(self.checks), tuple(self.checks), credential, form)


def _verdict(checks: list[Check]) -> Verdict:
    failed = {c.code for c in checks if c.outcome == Outcome.FAILED}
    unknown = {c.name for c in checks if c.outcome == Outcome.COULD_NOT_CHECK}
    # Order matters: a forgery is "invalid" even if it is also expired.
    structural = failed - {
        "revoked",
        "suspended",
        "expired",
        "not-yet-valid",
        "issuer-not-recognised",
    }
    if structural:
        return Verdict.INVALID
    if "proof" in unknown:
        return Verdict.COULD_NOT_CHECK
    if failed & {"revoked", "suspended"}:
        return Verdict.REVOKED
    if "expired" in failed:
        return Verdict.EXPIRED
    if "not-yet-valid" in failed:
        return Verdict.NOT_YET_VALID
    if unknown:
        return Verdict.COULD_NOT_CHECK
    if "issuer-not-recognised" in failed:
        return Verdict.ISSUER_NOT_RECOGNISED
    return Verdict.VALID


def _detect(data: bytes | str | Mapping[str, Any], max_bytes: int) -> tuple[str, Any, str | None]:
    """Return ("jwt", token) or ("json", object), and the image it was baked into, if any.

    Raises CredentialError with a reason.
    """
    baked: str | None = None
    if isinstance(data, Mapping):
        if not nesting_within(data, MAX_JSON_DEPTH):
            raise MalformedCredentialError(
                f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels"
            )
        obj: Any = dict(data)
    else:
        try:
            raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        except UnicodeEncodeError as e:  # a lone surrogate: no text a credential can hold
            raise MalformedCredentialError("the input is not valid Unicode text") from e
        if len(raw) > max_bytes:
            raise CredentialTooLargeError(
                f"the input is {len(raw):,} bytes; credentials larger than {max_bytes:,} bytes "
                "are not accepted"
            )
        if baking.is_png(raw):
            text, baked = baking.unbake_png(raw), "PNG"
        elif baking.looks_like_svg(raw):
            text, baked = baking.unbake_svg(raw), "SVG"
        else:
            try:
                text = raw.decode("utf-8").strip().lstrip("\ufeff")
            except UnicodeDecodeError as e:
                raise MalformedCredentialError("the input is neither text nor a known image") from e
        if portable.is_portable(text):
            # A portable QR code carries the VC-JWT itself; it is restored byte for byte, so
            # the signature check below covers exactly what the code carried.
            return "jwt", portable.decode_portable(text), _PORTABLE_QR
        if _COMPACT_JWS.match(text):
            return "jwt", text, baked
        if not text.startswith("{"):
            raise MalformedCredentialError(
                "the input is neither a JSON credential nor a compact JWT"
            )
        try:
            obj = json.loads(text)
        except RecursionError as e:
            raise MalformedCredentialError("the JSON is nested too deeply") from e
        except json.JSONDecodeError as e:
            raise MalformedCredentialError(
                f"the JSON is malformed: {e.msg} at line {e.lineno}, column {e.colno}"
            ) from e
        except ValueError as e:  # an integer of more digits than Python converts
            raise MalformedCredentialError(f"the JSON holds a number too long to read: {e}") from e
        if not nesting_within(obj, MAX_JSON_DEPTH):
            raise MalformedCredentialError(
                f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels"
            )
    if not isinstance(obj, dict):
        raise MalformedCredentialError("a credential must be a JSON object")
    _check_values(obj)
    # VC 2.0 EnvelopedVerifiableCredential: a JWT carried in a data: URL.
    if obj.get("type") == "EnvelopedVerifiableCredential" and isinstance(obj.get("id"), str):
        for prefix in _ENVELOPED_PREFIXES:
            if obj["id"].startswith(prefix) and _COMPACT_JWS.match(obj["id"][len(prefix) :]):
                return "jwt", obj["id"][len(prefix) :], baked
        raise MalformedCredentialError("the enveloped credential does not carry a VC-JWT")
    return "json", obj, baked


#: Beyond this, a JSON number cannot be a double, which JSON-LD processing turns numbers into.
_LARGEST_NUMBER = 2**1023


def _check_values(value: Any) -> None:
    """Refuse text that is not Unicode (a lone surrogate, which JSON's \\u escapes can make)
    and numbers too large for a double: neither can be canonicalised, so neither can be signed.
    Refuse a credential of more than :data:`MAX_CREDENTIAL_VALUES` values too.

    Raises:
        MalformedCredentialError: naming which (CredentialTooLargeError for the count).
    """
    stack = [value]
    left = MAX_CREDENTIAL_VALUES
    while stack:
        item = stack.pop()
        left -= 1
        if left < 0:
            raise CredentialTooLargeError(
                f"the credential holds more than {MAX_CREDENTIAL_VALUES:,} values (members, "
                "array items, texts); no credential needs that many"
            )
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as e:
                raise MalformedCredentialError(
                    "the credential holds text that is not valid Unicode (a lone surrogate)"
                ) from e
        elif (
            isinstance(item, int | float)
            and not isinstance(item, bool)
            and (abs(item) >= _LARGEST_NUMBER or item != item)  # also NaN, which JSON lacks
        ):
            raise MalformedCredentialError("the credential holds a number JSON-LD cannot represent")


def _check_shape(credential: Mapping[str, Any]) -> None:
    types = credential.get("type")
    if not isinstance(types, list) or "VerifiableCredential" not in types:
        raise MalformedCredentialError("type must be a list that includes VerifiableCredential")
    if not issuer_id(dict(credential)):
        raise MalformedCredentialError("the credential names no issuer id")
    if not isinstance(credential.get("credentialSubject"), dict | list):
        raise MalformedCredentialError("the credential has no credentialSubject")


def _verify_embedded(run: _Run, credential: dict[str, Any], resolver: KeyResolver) -> None:
    try:
        proofs = data_integrity.embedded_proofs(credential)
    except CredentialError as e:
        run.error("proof", e)
        return
    if not proofs:
        run.failed("proof", explain("no-proof"), "no-proof", "the credential carries no proof")
        return
    for proof in proofs:
        try:
            key = verify_embedded_proof(credential, proof, resolver)
        except UnresolvableKeyError as e:
            run.unknown(
                "proof", explain(e.code), e.code, f"the issuer's key could not be looked up: {e}"
            )
        except CredentialError as e:
            run.error("proof", e, f"Data Integrity proof: {e}")
        else:
            run.passed(
                "proof",
                Message.of(
                    N_("Data Integrity proof (%(suite)s) verified with %(key)s"),
                    suite=str(proof.get("cryptosuite")),
                    key=key.id,
                ),
            )


def _check_dates(run: _Run, credential: Mapping[str, Any], now: datetime) -> None:
    try:
        valid_from = next(
            (
                parse_datetime(credential[f], f)
                for f in ("validFrom", "issuanceDate")
                if f in credential
            ),
            None,
        )
        valid_until = next(
            (
                parse_datetime(credential[f], f)
                for f in ("validUntil", "expirationDate")
                if f in credential
            ),
            None,
        )
    except CredentialError as e:
        run.error("dates", e)
        return
    if valid_from is not None and now < valid_from:
        said = Message.of(N_("not valid until %(moment)s"), moment=valid_from)
        run.failed("dates", said, "not-yet-valid")
    elif valid_until is not None and now >= valid_until:
        run.failed("dates", Message.of(N_("expired on %(moment)s"), moment=valid_until), "expired")
    elif valid_until is not None:
        run.passed("dates", Message(N_("within its validity period")))
    elif valid_from is not None:
        run.passed("dates", Message.of(N_("valid from %(moment)s, no expiry"), moment=valid_from))
    else:
        run.passed("dates", Message(N_("valid from its issue, no expiry")))


def _check_status(
    run: _Run, credential: Mapping[str, Any], status: StatusSource | None, now: datetime
) -> None:
    try:
        entries = parse_status_entries(credential)
    except CredentialError as e:
        run.error("status", e)
        return
    checked = [e for e in entries if e.purpose in ("revocation", "suspension")]
    if not checked:
        run.passed("status", Message(N_("the credential has no revocation status to check")))
        return
    issuer = issuer_id(dict(credential))
    for entry in checked:
        if status is None:
            said = Message(N_("this verifier has no way to check status lists"))
            run.unknown("status", said, StatusUnavailableError.code)
            continue
        try:
            bits = status.bits(entry, issuer=issuer, now=now)
            is_set = get_bit(bits, entry.index)
        except CredentialError as e:
            # A stale list keeps its own code: the page says "get a fresh kit", not "try later".
            code = e.code if e.code == "stale-status" else StatusUnavailableError.code
            detail = f"the {entry.purpose} status could not be checked: {e}"
            run.unknown("status", explain(code), code, detail)
            continue
        if is_set and entry.purpose == "revocation":
            run.failed("status", Message(N_("revoked by its issuer")), "revoked")
        elif is_set:
            run.failed("status", Message(N_("suspended by its issuer")), "suspended")
        elif entry.purpose == "revocation":
            run.passed("status", Message(N_("not revoked (the issuer's status list was checked)")))
        else:
            said = Message(N_("not suspended (the issuer's status list was checked)"))
            run.passed("status", said)


def verify_credential(
    data: bytes | str | Mapping[str, Any],
    *,
    resolver: KeyResolver,
    now: datetime,
    trusted_issuers: Container[str] = (),
    max_bytes: int = DEFAULT_MAX_BYTES,
    status: StatusSource | None = None,
) -> VerificationResult:
    """Verify one credential in any supported form and say what was found.

    ``status`` answers for status lists; without it a credential that has a status entry
    gets "could not check", never "not revoked". ``trusted_issuers`` decides whether an
    issuer is "recognised": an unknown issuer with a good signature gets the verdict "issuer
    not recognised", never its self-asserted name as if vouched for.
    """
    run = _Run()
    try:
        form, parsed, baked = _detect(data, max_bytes)
    except CredentialError as e:
        run.error("format", e)
        return run.result(None, None)

    credential: dict[str, Any]
    if form == "jwt":
        run.passed("format", Message(_FORMS[form, baked]))
        try:
            decoded = jwt_vc.decode_vc_jwt(parsed, resolver.resolve)
        except UnresolvableKeyError as e:
            detail = f"the issuer's key could not be looked up: {e}"
            run.unknown("proof", explain(e.code), e.code, detail)
            return run.result(None, form)
        except CredentialError as e:
            run.error("proof", e, f"VC-JWT: {e}")
            return run.result(None, form)
        credential = decoded.credential
        said = Message.of(
            N_(
                "VC-JWT signature (%(algorithm)s) verified with %(key)s; "
                "its claims match the credential"
            ),
            algorithm=decoded.key.algorithm,
            key=decoded.key.id,
        )
        run.passed("proof", said)
    else:
        credential = parsed
        try:
            _check_shape(credential)
        except CredentialError as e:
            run.error("format", e)
            return run.result(credential, form)
        run.passed("format", Message(_FORMS[form, baked]))
        _verify_embedded(run, credential, resolver)

    _check_dates(run, credential, now)

    _check_status(run, credential, status, now)

    try:
        validate_open_badge(credential)
    except SchemaValidationError as e:
        run.error("schema", e, f"{e}: " + "; ".join(e.problems[:5]))
    else:
        run.passed("schema", Message(N_("matches the Open Badges 3.0 JSON Schema")))

    issuer = issuer_id(credential)
    if issuer in trusted_issuers:
        run.passed("issuer", Message.of(N_("%(issuer)s is a recognised issuer"), issuer=issuer))
    else:
        said = Message.of(
            N_("%(issuer)s is not on this verifier's list of recognised issuers"), issuer=issuer
        )
        run.failed("issuer", said, "issuer-not-recognised")
    return run.result(credential, form)
