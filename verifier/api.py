"""JSON APIs: POST /api/v1/verify and the W3C VC-API verification endpoints.

Every endpoint runs the one pipeline (``backend().verify``). A credential that does not verify
is an answer (HTTP 200, ``verified: false``); only a request that cannot be read is an error,
as problem details (400 unreadable JSON, 413 too large, 415 not JSON, 422 invalid fields).

VC-API: https://w3c-ccg.github.io/vc-api/ (``/credentials/verify``, ``/presentations/verify``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from importlib import metadata
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, request
from marshmallow import ValidationError
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from credentials import CredentialError, InvalidProofError, KeyMismatchError
from credentials.dates import parse_datetime
from credentials.limits import most_bundle_values, values_within
from credentials.proofs import data_integrity
from schemas import (
    CheckSchema,
    PresentationResultSchema,
    ProblemSchema,
    VcApiMessageSchema,
    VcApiPresentationResponseSchema,
    VcApiVerifyResponseSchema,
    VerificationResultSchema,
    VerifyCredentialRequestSchema,
    VerifyPresentationRequestSchema,
    VerifyRequestSchema,
    VerifyResponseSchema,
    WalletReportSchema,
)

from .backend import backend, public_id_in, tally, verify_any
from .messages import N_, Message, explain
from .pipeline import Check, Outcome, Verdict, VerificationResult
from .ratelimit import VERIFY, limited, openapi_429
from .recipient import belongs_to
from .resolvers import DidKeyResolver
from .security import csrf
from .wallet import WalletResult, looks_like_wallet

bp = Blueprint("verify_api", __name__)
csrf.exempt(bp)  # token-less JSON API: no cookies are used to authorise anything here

JSON_MEDIA_TYPE = "application/json"
PROBLEM_MEDIA_TYPE = "application/problem+json"

# Schemas are built once: building one (its fields, its nested schemas) cost more than using
# it, on every request. load and dump keep no state on the instance, so one serves all.
_VERIFY_REQUEST = VerifyRequestSchema()
_VERIFY_EMAIL = VerifyRequestSchema(only=("email",))
_WALLET_REPORT = WalletReportSchema()
_VC_API_REQUEST = VerifyCredentialRequestSchema()
_VC_API_RESPONSE = VcApiVerifyResponseSchema()
_VC_API_PRESENTATION_REQUEST = VerifyPresentationRequestSchema()
_VC_API_PRESENTATION_RESPONSE = VcApiPresentationResponseSchema()


def result_json(result: VerificationResult) -> dict[str, Any]:
    """A verification result as ``VerificationResultSchema`` describes it (the OpenAPI shape).

    Written out rather than dumped by the schema: this is every verify API answer, and the
    schema's dump cost five times as much. tests/verifier/test_api.py holds the two equal
    for results of every verdict, so the documented shape and this one cannot drift apart.
    """
    return {
        "verified": result.verified,
        "verdict": str(result.verdict),
        "form": result.form,
        "checks": [
            {
                "name": check.name,
                "outcome": str(check.outcome),
                "message": check.message,
                "code": check.code,
            }
            for check in result.checks
        ],
        "credential": result.credential,
    }


# -- reading requests -----------------------------------------------------------------------


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_json_body() -> Any:
    """The request's JSON body, strictly (RFC 8259: UTF-8, no NaN or Infinity).

    Raises:
        UnsupportedMediaType: the body is not sent as JSON.
        BadRequest: the body is not JSON, or is nested too deeply to read.
        RequestEntityTooLarge: the body is larger than ``MAX_CONTENT_LENGTH`` (werkzeug).
    """
    if not request.is_json:
        raise UnsupportedMediaType(
            f"send the request body as {JSON_MEDIA_TYPE} (the Content-Type header says "
            f"{request.mimetype or 'nothing'})"
        )
    raw = request.get_data(cache=True)  # werkzeug enforces MAX_CONTENT_LENGTH here
    try:
        return json.loads(raw.decode("utf-8-sig"), parse_constant=_refuse_constant)
    except RecursionError as e:
        # The C decoder recurses per nesting level: a deep enough body exhausts the stack.
        raise BadRequest("the JSON body is nested too deeply to read") from e
    except UnicodeDecodeError as e:
        raise BadRequest("the request body is not UTF-8 text") from e
    except json.JSONDecodeError as e:
        raise BadRequest(
            f"the request body is not JSON: {e.msg} at line {e.lineno}, column {e.colno}"
        ) from e
    except ValueError as e:  # NaN/Infinity, or an integer too long to convert
        raise BadRequest(f"the request body is not JSON: {e}") from e


# -- verifying one input --------------------------------------------------------------------


def _unverifiable(code: str, said: Message, detail: str | None = None) -> VerificationResult:
    check = Check("format", Outcome.FAILED, said, code, detail)
    return VerificationResult(Verdict.INVALID, (check,))


def _verify_credential(value: Mapping[str, Any] | str) -> VerificationResult:
    """``backend().verify``, always as an answer.

    The pipeline answers for every input it understands; an input that still makes it raise
    one of our errors is not verified, and saying so beats refusing the whole request (one
    broken credential in a presentation must not hide the results of the others).
    """
    try:
        return backend().verify(value)
    except CredentialError as e:
        return _unverifiable(e.code, explain(e.code), f"the credential could not be read: {e}")


def verify_input(value: Mapping[str, Any] | str) -> VerificationResult:
    """Verify a credential, or the credential behind a verify link (or public id) of this host.

    Links to other sites are never fetched: a stranger must not make this service request
    URLs of their choosing.
    """
    host = backend()
    if isinstance(value, str):
        text = value.strip()
        prefix = host.verify_url("")
        public_id = public_id_in(text)
        published = host.lookup(public_id) if public_id is not None else None
        if published is not None and published.hidden:
            return _unverifiable(
                "private",
                Message(
                    N_(
                        "the holder has made this credential's public page private; ask them "
                        "for the credential file or wallet and verify that instead"
                    )
                ),
            )
        if published is not None:
            return _verify_credential(published.document)
        if text.startswith(prefix):
            return _unverifiable(
                "unknown-verify-link",
                Message.of(
                    N_("no credential issued by this service has the verify link %(link)s"),
                    link=text[:200],
                ),
            )
        if text.startswith(("http://", "https://")):
            return _unverifiable(
                "foreign-link",
                Message.of(
                    N_(
                        "this service looks up only its own verify links (%(prefix)s…) and does "
                        "not fetch other sites; paste the credential itself (its JSON or VC-JWT)"
                    ),
                    prefix=prefix,
                ),
            )
    return _verify_credential(value)


#: Bodies sent as files rather than JSON: a wallet ZIP, a baked badge, a CLR or a VC-JWT.
FILE_MEDIA_TYPES = frozenset(
    {
        "application/zip",
        "application/octet-stream",
        "image/png",
        "image/svg+xml",
        "application/vc+jwt",
    }
)


def wallet_report(found: WalletResult, email: str | None = None) -> dict[str, Any]:
    """The JSON report of a wallet: its own checks, and one entry per credential."""
    credentials = []
    for entry in found.entries:
        item = {"label": entry.label, **result_json(entry.result)}
        if email is not None:
            item["recipient"] = (
                belongs_to(entry.result.credential, email) if entry.result.credential else None
            )
        credentials.append(item)
    envelope = found.envelope
    return _WALLET_REPORT.dump(
        {
            "verified": found.verified,
            "form": "wallet",
            "container": found.form,
            "wallet": None
            if envelope is None
            else {
                "verified": envelope.verified,
                "verdict": envelope.verdict.value,
                "checks": envelope.checks,
            },
            "counts": found.counts,
            "credentials": credentials,
        }
    )


@bp.post("/api/v1/verify")
@limited(VERIFY)
def verify() -> tuple[dict[str, Any], HTTPStatus]:
    """Verify one credential or a whole wallet (a failed verification is still 200).

    JSON: ``{"credential": ..., "email": ...}``. A file (wallet ZIP, baked badge, CLR, VC-JWT)
    may instead be sent as the raw body with its own media type; ``?email=`` then asks the
    recipient question.
    """
    if request.mimetype in FILE_MEDIA_TYPES:
        asked = {"email": request.args["email"]} if "email" in request.args else {}
        email = _VERIFY_EMAIL.load(asked)["email"]
        found = verify_any(request.get_data())
    else:
        data = _VERIFY_REQUEST.load(read_json_body())
        if "email" in request.args:
            # Ignoring it would answer without the recipient check the client asked for.
            raise ValidationError(
                {"email": ["with a JSON body, send the e-mail as its email member, not ?email="]}
            )
        email = data["email"]
        value = data["credential"]
        found = verify_any(value) if looks_like_wallet(value) else verify_input(value)
    tally(found, "api")
    if isinstance(found, WalletResult):
        return wallet_report(found, email), HTTPStatus.OK
    body = result_json(found)
    if email is not None:
        body["recipient"] = belongs_to(found.credential, email) if found.credential else None
    return body, HTTPStatus.OK


# -- VC-API results -------------------------------------------------------------------------


@dataclass
class _Findings:
    """What a VC-API result lists: passed check names, warnings and errors."""

    checks: list[str] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)

    def passed(self, name: str) -> None:
        if name not in self.checks:
            self.checks.append(name)

    def warn(self, check: str, code: str, message: str) -> None:
        self.warnings.append({"check": check, "code": code, "message": message})

    def error(self, check: str, code: str, message: str) -> None:
        self.errors.append({"check": check, "code": code, "message": message})


def _option_warnings(options: Mapping[str, Any], supported: Iterable[str]) -> list[dict[str, str]]:
    known = set(supported)
    return [
        {
            "check": "options",
            "code": "unsupported-option",
            "message": f"option {str(name)[:60]!r} is not supported here and was ignored",
        }
        for name in options
        if name not in known
    ]


def vcapi_result(
    result: VerificationResult, *, warnings: Iterable[dict[str, str]] = ()
) -> dict[str, Any]:
    """A pipeline result in the VC-API shape: ``verified``, ``checks``, ``warnings``, ``errors``.

    A check that failed or could not be checked is an error, so ``verified`` is never true
    for a credential whose status is unknown. Whether the issuer is on this service's trust
    list is a warning: the VC-API leaves trust decisions to the caller, and the verdict says
    "issuer not recognised" for anyone who wants it.
    """
    findings = _Findings(warnings=list(warnings))
    for check in result.checks:
        code = check.code or check.outcome.value.replace(" ", "-")
        if check.outcome == Outcome.PASSED:
            findings.passed(check.name)
        elif check.name == "issuer" and check.code == "issuer-not-recognised":
            findings.warn(check.name, code, check.message)
        else:
            findings.error(check.name, code, check.message)
    return {
        # "proof" must have passed as well: no error can also mean no check ran.
        "verified": not findings.errors and "proof" in findings.checks,
        "checks": findings.checks,
        "warnings": findings.warnings,
        "errors": findings.errors,
        "verdict": result.verdict.value,
        "results": list(result.checks),
    }


@bp.post("/credentials/verify")
@limited(VERIFY)
def vcapi_verify_credential() -> tuple[dict[str, Any], HTTPStatus]:
    """VC-API: verify one credential (object, EnvelopedVerifiableCredential or VC-JWT)."""
    data = _VC_API_REQUEST.load(read_json_body())
    result = _verify_credential(data["verifiable_credential"])
    tally(result, "api")
    body = vcapi_result(result, warnings=_option_warnings(data["options"], ()))
    return _VC_API_RESPONSE.dump(body), HTTPStatus.OK


# -- VC-API presentations -------------------------------------------------------------------


def _holder_id(presentation: Mapping[str, Any]) -> str | None:
    holder = presentation.get("holder")
    if isinstance(holder, Mapping):
        holder = holder.get("id")
    return holder if isinstance(holder, str) else None


def _is_presentation(presentation: Mapping[str, Any]) -> bool:
    types = presentation.get("type")
    types = types if isinstance(types, list) else [types]
    return "VerifiablePresentation" in types


def _checkable(proof: Mapping[str, Any]) -> bool:
    method = proof.get("verificationMethod")
    return (
        proof.get("type") == data_integrity.PROOF_TYPE
        and proof.get("cryptosuite") == data_integrity.CRYPTOSUITE
        and isinstance(method, str)
        and method.startswith("did:key:")
    )


def _verify_holder_proof(
    presentation: Mapping[str, Any],
    proof: Mapping[str, Any],
    options: Mapping[str, Any],
    now: datetime,
) -> str:
    """Verify a did:key holder's ``eddsa-rdfc-2022`` proof on a presentation; return the DID.

    Raises:
        CredentialError: the proof does not bind the presentation to its holder for this
            verifier's challenge and domain (the message says why).
    """
    key = DidKeyResolver().resolve(str(proof["verificationMethod"]))
    holder = _holder_id(presentation)
    if holder is not None and holder != key.controller:
        raise KeyMismatchError(
            f"the presentation is signed by {key.controller}, not by its holder {holder[:200]}"
        )
    if proof.get("proofPurpose") != "authentication":
        raise InvalidProofError(
            f"the proof's purpose is {str(proof.get('proofPurpose'))[:60]!r}; a holder proves "
            "control of a presentation with 'authentication'"
        )
    if "challenge" in options and proof.get("challenge") != options["challenge"]:
        raise InvalidProofError("the proof does not carry the challenge this verifier asked for")
    if "domain" in options:
        domains = proof.get("domain")
        domains = domains if isinstance(domains, list) else [domains]
        if options["domain"] not in domains:
            raise InvalidProofError("the proof is not for the domain this verifier asked for")
    if "expires" in proof and now >= parse_datetime(proof["expires"], "proof.expires"):
        raise InvalidProofError(f"the presentation proof expired at {proof['expires']}")
    data_integrity.verify_proof(presentation, proof, key)
    return key.controller


def _presentation_findings(
    presentation: Mapping[str, Any], options: Mapping[str, Any], now: datetime
) -> tuple[_Findings, str | None]:
    findings = _Findings()
    holder: str | None = None
    if _is_presentation(presentation):
        findings.passed("presentation")
    else:
        findings.error(
            "presentation", "malformed-presentation", "type must include VerifiablePresentation"
        )
    asked = [name for name in ("challenge", "domain") if name in options]
    presented = presentation.get("verifiableCredential", [])
    most = most_bundle_values(len(presented) if isinstance(presented, list) else 1)
    if not values_within(presentation, most):
        # Checking the holder's proof costs time in proportion to the presentation's values.
        findings.error(
            "presentation-proof",
            "too-large",
            f"the presentation holds more than {most:,} values for its credentials; its "
            "proof is not checked",
        )
        return findings, holder
    try:
        proofs = data_integrity.embedded_proofs(presentation)
    except CredentialError as e:
        findings.error("presentation-proof", e.code, str(e))
        return findings, holder
    if not proofs:
        findings.warn(
            "presentation-proof",
            "no-presentation-proof",
            "the presentation carries no proof, so nothing binds it to a holder",
        )
    for proof in proofs:
        if not _checkable(proof):
            findings.warn(
                "presentation-proof",
                "presentation-proof-not-checked",
                "presentation proof not checked: only eddsa-rdfc-2022 Data Integrity proofs "
                "made with a did:key are verified here",
            )
            continue
        try:
            holder = _verify_holder_proof(presentation, proof, options, now)
        except CredentialError as e:
            findings.error("presentation-proof", e.code, f"presentation proof: {e}")
        except ValueError as e:  # pyld's untranslated error for a malformed context
            findings.error(
                "presentation-proof",
                "canonicalization-failed",
                f"presentation proof: the presentation is not valid JSON-LD: {str(e)[:200]}",
            )
        else:
            findings.passed("presentation-proof")
            for name in asked:
                findings.passed(name)
    if asked and "presentation-proof" not in findings.checks:
        # A challenge nobody answered proves nothing: a replayed presentation looks the same.
        findings.error(
            "presentation-proof",
            "challenge-not-checked",
            f"the {' and '.join(asked)} asked for could not be checked: the presentation has "
            "no proof this service verifies",
        )
    return findings, holder


@bp.post("/presentations/verify")
@limited(VERIFY)
def vcapi_verify_presentation() -> tuple[dict[str, Any], HTTPStatus]:
    """VC-API: verify a presentation's holder proof and every credential it carries."""
    data = _VC_API_PRESENTATION_REQUEST.load(read_json_body())
    presentation = data["verifiable_presentation"]
    options = data["options"]
    presentation_findings, holder = _presentation_findings(presentation, options, datetime.now(UTC))
    presented = presentation.get("verifiableCredential", [])
    items = presented if isinstance(presented, list) else [presented]
    verified = [_verify_credential(item) for item in items]
    for one in verified:
        tally(one, "api")
    credential_results = [vcapi_result(one) for one in verified]

    overall = _Findings(
        checks=list(presentation_findings.checks),
        warnings=[
            *presentation_findings.warnings,
            *_option_warnings(options, ("challenge", "domain")),
        ],
        errors=list(presentation_findings.errors),
    )
    if not items:
        overall.warn("credentials", "no-credentials", "the presentation carries no credentials")
    for number, result in enumerate(credential_results, start=1):
        if not result["verified"]:
            reason = result["errors"][0]["message"] if result["errors"] else "no proof verified"
            overall.error(
                "credentials",
                "credential-not-verified",
                f"credential {number} of {len(items)} did not verify: {reason}",
            )
    if items and all(r["verified"] for r in credential_results):
        overall.passed("credentials")
    body = {
        "verified": not overall.errors,
        "presentation_result": {
            "verified": not presentation_findings.errors,
            "holder": holder,
            "checks": presentation_findings.checks,
            "warnings": presentation_findings.warnings,
            "errors": presentation_findings.errors,
        },
        "credential_results": credential_results,
        "checks": overall.checks,
        "warnings": overall.warnings,
        "errors": overall.errors,
    }
    return _VC_API_PRESENTATION_RESPONSE.dump(body), HTTPStatus.OK


# -- OpenAPI --------------------------------------------------------------------------------


def _version() -> str:
    try:
        return metadata.version("tessera-credentials")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0"


def _json_body(schema: str, description: str) -> dict[str, Any]:
    return {
        "required": True,
        "description": description,
        "content": {JSON_MEDIA_TYPE: {"schema": schema}},
    }


def _ok(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON_MEDIA_TYPE: {"schema": schema}}}


#: What a verifying operation answers to a network that checks too much too fast.
VERIFY_429 = openapi_429("verification is counted per client network")

#: What every JSON endpoint answers to a request it cannot read.
REQUEST_PROBLEMS: dict[str, str] = {
    "400": "Problem",
    "413": "Problem",
    "415": "Problem",
    "422": "Problem",
}


def openapi_spec(*, title: str, description: str) -> APISpec:
    """An OpenAPI 3.1 document with the shared schemas and the verification endpoints.

    Apps add their own paths (``spec.path(...)``) and serve ``spec.to_dict()``.
    """
    spec = APISpec(
        title=title,
        version=_version(),
        openapi_version="3.1.0",
        plugins=[MarshmallowPlugin()],
        info={"description": description},
    )
    for name, schema in (
        ("Problem", ProblemSchema),
        ("Check", CheckSchema),
        ("VerificationResult", VerificationResultSchema),
        ("VerifyRequest", VerifyRequestSchema),
        ("VerifyResponse", VerifyResponseSchema),
        ("WalletReport", WalletReportSchema),
        ("VcApiMessage", VcApiMessageSchema),
        ("VerifyCredentialRequest", VerifyCredentialRequestSchema),
        ("VerifyCredentialResponse", VcApiVerifyResponseSchema),
        ("VerifyPresentationRequest", VerifyPresentationRequestSchema),
        ("PresentationResult", PresentationResultSchema),
        ("VerifyPresentationResponse", VcApiPresentationResponseSchema),
    ):
        spec.components.schema(name, schema=schema)
    spec.components.response(
        "Problem",
        {
            "description": "Problem details: what was wrong with the request",
            "content": {PROBLEM_MEDIA_TYPE: {"schema": "Problem"}},
        },
    )
    spec.tag({"name": "verify", "description": "Tessera's own verify API"})
    spec.tag({"name": "vc-api", "description": "W3C VC-API (https://w3c-ccg.github.io/vc-api/)"})
    spec.tag({"name": "public", "description": "Public documents and service metadata"})
    spec.path(
        path="/api/v1/verify",
        operations={
            "post": {
                "tags": ["verify"],
                "operationId": "verify",
                "summary": "Verify one credential or a whole wallet",
                "description": (
                    "The credential as a JSON object, or a string: a compact VC-JWT, the JSON "
                    "text, or a verify link (or public id) of this service, whose stored "
                    "credential is verified. Other sites' links are never fetched. A CLR 2.0 "
                    "wallet (ClrCredential) is verified as a whole: its own proof, and each "
                    "credential in it, one entry each. A file (a wallet ZIP, a baked PNG or SVG "
                    "badge, a CLR or a VC-JWT) may instead be sent as the raw request body with "
                    "its media type, and ?email= for the recipient question. A credential that "
                    "does not verify is an answer: 200 with verified false and the failed "
                    "checks."
                ),
                "parameters": [
                    {
                        "name": "email",
                        "in": "query",
                        "required": False,
                        "description": "with a file body: check the credentials were issued to "
                        "this e-mail address",
                        "schema": {"type": "string", "format": "email", "maxLength": 320},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "description": "the credential or wallet, and optionally an e-mail to check "
                    "it was issued to",
                    "content": {
                        JSON_MEDIA_TYPE: {"schema": "VerifyRequest"},
                        **{
                            media: {"schema": {"type": "string", "format": "binary"}}
                            for media in sorted(FILE_MEDIA_TYPES)
                        },
                    },
                },
                "responses": {
                    "200": {
                        "description": "the verdict and every check (for a wallet: the "
                        "wallet's own checks and one entry per credential)",
                        "content": {
                            JSON_MEDIA_TYPE: {
                                "schema": {
                                    "oneOf": [
                                        {"$ref": "#/components/schemas/VerifyResponse"},
                                        {"$ref": "#/components/schemas/WalletReport"},
                                    ]
                                }
                            }
                        },
                    },
                    "429": VERIFY_429,
                    **REQUEST_PROBLEMS,
                },
            }
        },
    )
    spec.path(
        path="/credentials/verify",
        operations={
            "post": {
                "tags": ["vc-api"],
                "operationId": "verifyCredential",
                "summary": "VC-API: verify a credential",
                "description": (
                    "verified is true when the proof, dates, status and schema checks passed. "
                    "Unknown options are reported as warnings and ignored."
                ),
                "requestBody": _json_body(
                    "VerifyCredentialRequest", "verifiableCredential and options"
                ),
                "responses": {
                    "200": _ok("VerifyCredentialResponse", "the verification result"),
                    "429": VERIFY_429,
                    **REQUEST_PROBLEMS,
                },
            }
        },
    )
    spec.path(
        path="/presentations/verify",
        operations={
            "post": {
                "tags": ["vc-api"],
                "operationId": "verifyPresentation",
                "summary": "VC-API: verify a presentation and every credential in it",
                "description": (
                    "A holder proof that is an eddsa-rdfc-2022 Data Integrity proof by a "
                    "did:key (proofPurpose authentication) is verified, with options.challenge "
                    "and options.domain when given; other presentation proofs are reported as "
                    "not checked (a warning), and a requested challenge that no verified proof "
                    "answers is an error. Each credential goes through the same checks as "
                    "/credentials/verify. At most 100 credentials per presentation."
                ),
                "requestBody": _json_body(
                    "VerifyPresentationRequest", "verifiablePresentation and options"
                ),
                "responses": {
                    "200": _ok("VerifyPresentationResponse", "the verification result"),
                    "429": VERIFY_429,
                    **REQUEST_PROBLEMS,
                },
            }
        },
    )
    from .match import document_api  # the match blueprint imports this module

    document_api(spec)
    spec.path(
        path="/api/v1/openapi.json",
        operations={
            "get": {
                "tags": ["public"],
                "operationId": "openapi",
                "summary": "This OpenAPI document",
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {JSON_MEDIA_TYPE: {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    )
    return spec


_TOP_LEVEL_ORDER = ("openapi", "info", "tags", "paths", "components")


def openapi_dict(spec: APISpec) -> dict[str, Any]:
    """The spec as a dict, its top-level members in the order people read them."""
    document = spec.to_dict()
    ordered = {name: document[name] for name in _TOP_LEVEL_ORDER if name in document}
    return ordered | document
