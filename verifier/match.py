"""Job-task matching for employers: the /match page and POST /api/v1/match.

An employer picks a job profile (a centre's published one, or one shipped in the catalogue) or
describes a role on the page, then presents a worker's credentials: files, a whole wallet, or
one pasted credential. Every credential goes through the one pipeline (``verify_any``), is
counted once as a "match" verification, and the profile is matched task by task by
:func:`verifier.matching.match`. Only valid credentials count; the others are listed with the
reason, so an employer sees why a revoked or expired credential was not taken into account.

Input that is not what it claims (no profile, a line of the role that cannot be read, a file
that is not a credential) is refused as a whole before anything is counted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from http import HTTPStatus
from importlib import resources
from typing import Any

from apispec import APISpec
from flask import Blueprint, Response, make_response, render_template, request
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from credentials.wallet import MAX_WALLET_CREDENTIALS
from schemas.matching import (
    JobProfileInputSchema,
    JobProfileListSchema,
    MatchQuerySchema,
    MatchRequestSchema,
    MatchResponseSchema,
)

from .api import FILE_MEDIA_TYPES, read_json_body, verify_input
from .backend import backend, tally, verify_any
from .matching import (
    MAX_NAME,
    MAX_TASKS,
    Evidence,
    JobProfile,
    MatchResult,
    Presented,
    ProfileError,
    achievement_name,
    issuer_name,
    match,
    profile_from_data,
    reason,
)
from .messages import N_, Message, say, with_detail
from .pages import _limit_mb, http_error
from .pipeline import Outcome, VerificationResult
from .problems import problem
from .ratelimit import VERIFY, limited, openapi_429
from .security import csrf
from .wallet import WalletResult, looks_like_wallet

bp = Blueprint("match", __name__, template_folder="templates")
api_bp = Blueprint("match_api", __name__)
csrf.exempt(api_bp)  # token-less JSON API, like /api/v1/verify

#: The choice in the profile picker that means "the role I describe below".
CUSTOM = "custom"
MAX_LABEL = 120  # characters of a file name shown as a credential's label
MAX_PROFILE_TEXT = 50_000  # characters of a role described on the page
_LINE = re.compile(r"^(?P<name>.+?):\s+(?P<refs>(?:https?://|urn:)\S.*)$", re.IGNORECASE)
_ESCO = "http://data.europa.eu/esco/"


class MatchInputError(ValueError):
    """The employer's input cannot be matched; ``said`` says what to change (English: str)."""

    def __init__(
        self,
        said: Message,
        status: int = HTTPStatus.UNPROCESSABLE_ENTITY,
        code: str = "not-a-credential",
    ) -> None:
        super().__init__(str(said))
        self.said = said
        self.status = status
        self.code = code


# -- skill names for the page -----------------------------------------------------------------


@cache
def skill_labels() -> dict[str, str]:
    """ESCO labels of the catalogue's skills (shipped beside it), so tasks can name them."""
    text = resources.files(__package__).joinpath("data/job_profiles.json").read_text("utf-8")
    labels = json.loads(text).get("skillLabels", {})
    return {str(k): str(v) for k, v in labels.items()}


# -- a role described on the page -------------------------------------------------------------


def parse_profile_text(text: str, name: str = "") -> JobProfile:
    """A profile from one task per line: ``Task name: URI URI …``.

    An ESCO address is a skill; any other address may be a skill of another framework (as
    credentials align to it) or a specific achievement's id, so it is matched as either. Blank
    lines and lines starting with ``#`` are skipped.

    Raises:
        ProfileError: a line cannot be read, or the profile as a whole is malformed; the
            message names the line.
    """
    if len(text) > MAX_PROFILE_TEXT:
        raise ProfileError(
            Message.of(
                N_("describe the role in at most %(limit)s characters"), limit=MAX_PROFILE_TEXT
            )
        )
    tasks = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        found = _LINE.match(line)
        if found is None:
            raise ProfileError(
                Message.of(
                    N_(
                        "line %(line)s: write the task's name, a colon, then one or more skill "
                        "addresses (http://data.europa.eu/esco/skill/…) separated by spaces"
                    ),
                    line=number,
                )
            )
        refs = found["refs"].split()
        if bad := next((r for r in refs if not re.match(r"^(https?://|urn:)", r, re.I)), None):
            raise ProfileError(
                Message.of(
                    N_("line %(line)s: “%(text)s” is not an address (http:// or urn:)"),
                    line=number,
                    text=bad[:80],
                )
            )
        skills = list(refs)
        others = [r for r in refs if not r.startswith(_ESCO)]
        tasks.append({"name": found["name"].strip(), "skills": skills, "achievements": others})
        if len(tasks) > MAX_TASKS:
            raise ProfileError(
                Message.of(
                    N_("line %(line)s: a role has at most %(limit)s tasks"),
                    line=number,
                    limit=MAX_TASKS,
                )
            )
    if not tasks:
        raise ProfileError(
            Message(N_("describe at least one task: one per line, as in the example"))
        )
    try:
        return profile_from_data(
            {"name": name.strip()[:MAX_NAME] or "Role described here", "tasks": tasks}
        )
    except ProfileError as e:
        # profile_from_data counts tasks; the employer counts lines.
        raise ProfileError(str(e).replace("task ", "task on line ", 1)) from e


# -- presenting credentials -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Presentation:
    """What one file, pasted text or JSON item held, as verified."""

    label: str
    found: VerificationResult | WalletResult


def presented(items: Sequence[Presentation]) -> list[Presented]:
    """One entry per credential: a wallet expands into one per credential it holds."""
    out: list[Presented] = []
    for item in items:
        if isinstance(item.found, WalletResult):
            out.extend(Presented(f"{item.label} · {e.label}", e.result) for e in item.found.entries)
        else:
            out.append(Presented(item.label, item.found))
    return out


def _not_a_credential(result: VerificationResult) -> Message | None:
    """Why ``result`` is of something that is not a credential at all, or None."""
    check = result.check("format")
    if result.form is None or (check is not None and check.outcome == Outcome.FAILED):
        if check is None:
            return Message(N_("it could not be read"))
        return with_detail(check.said, check.detail)
    return None


def refuse_non_credentials(items: Sequence[Presentation]) -> None:
    """Refuse the input if any item is not a credential (or a wallet without credentials).

    Raises:
        MatchInputError: naming the item and why (413 when it was too large).
    """
    for item in items:
        found = item.found
        if isinstance(found, WalletResult):
            if not found.entries:
                why = (
                    found.envelope.checks[0].said if found.envelope else Message(N_("it is empty"))
                )
                status = _status_for(found.envelope)
                said = Message.of(
                    N_("%(item)s holds no credentials: %(why)s"), item=item.label, why=why
                )
                raise MatchInputError(said, status, _code_for(status))
            continue
        if (unreadable := _not_a_credential(found)) is not None:
            status = _status_for(found)
            said = Message.of(
                N_("%(item)s is not a credential: %(why)s"), item=item.label, why=unreadable
            )
            raise MatchInputError(said, status, _code_for(status))
    total = len(presented(items))
    if total > MAX_WALLET_CREDENTIALS:
        said = Message.of(
            N_("%(total)s credentials were presented; at most %(limit)s are matched at once"),
            total=total,
            limit=MAX_WALLET_CREDENTIALS,
        )
        raise MatchInputError(said, code="too-many-credentials")


def _status_for(result: VerificationResult | None) -> int:
    too_large = result is not None and any(c.code == "too-large" for c in result.checks)
    return HTTPStatus.REQUEST_ENTITY_TOO_LARGE if too_large else HTTPStatus.UNPROCESSABLE_ENTITY


def _code_for(status: int) -> str:
    return "too-large" if status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE else "not-a-credential"


def run_match(profile: JobProfile, items: Sequence[Presentation]) -> MatchResult:
    """Count each credential once (channel "match"), then match them against ``profile``."""
    host = backend()
    for item in items:
        tally(item.found, "match")
    return match(profile, presented(items), offerings_for=host.offerings)


# -- the page ---------------------------------------------------------------------------------


def _grouped(profiles: Sequence[JobProfile]) -> list[tuple[str, list[JobProfile]]]:
    groups: dict[str, list[JobProfile]] = {}
    for profile in profiles:
        groups.setdefault(profile.source or "Other", []).append(profile)
    return list(groups.items())


def _rows(result: MatchResult) -> list[dict[str, Any]]:
    """Each presented credential as the page lists it: what it is, its verdict, and why."""
    return [
        {
            "label": p.label,
            "result": p.result,
            "achievement": achievement_name(p.result.credential) if p.result.credential else None,
            "issuer": issuer_name(p.result.credential) if p.result.credential else None,
            "reason": reason(p.result),
        }
        for p in result.presented
    ]


def _form(
    message: Message | None = None,
    status: int = HTTPStatus.OK,
    *,
    result: MatchResult | None = None,
    keep_input: bool = True,
) -> Response:
    # After a 413 the body must not be read again: the form starts empty.
    form = request.form if request.method == "POST" and keep_input else {}
    chosen = form.get("profile") or request.args.get("profile", "")
    page = render_template(
        "match.html",
        groups=_grouped(backend().job_profiles()),
        chosen=chosen,
        custom=CUSTOM,
        role_name=form.get("role_name", ""),
        role_tasks=form.get("role_tasks", ""),
        pasted=form.get("credential", "") if result is None else "",
        message=message,
        result=result,
        rows=_rows(result) if result is not None else [],
        skill_labels=skill_labels(),
        limit_mb=_limit_mb(),
        max_credentials=MAX_WALLET_CREDENTIALS,
    )
    return make_response(page, status)


@bp.get("/match")
def form() -> Response:
    """Pick a role (or describe one) and present a worker's credentials."""
    return _form()


def _page_profile() -> JobProfile:
    chosen = request.form.get("profile", "").strip()
    text = request.form.get("role_tasks", "")
    if chosen == CUSTOM or (not chosen and text.strip()):
        try:
            return parse_profile_text(text, request.form.get("role_name", ""))
        except ProfileError as e:
            said = Message.of(N_("The role you described cannot be used: %(why)s."), why=e.said)
            raise MatchInputError(said) from e
    if not chosen:
        raise MatchInputError(Message(N_("Choose a role from the list, or describe one below.")))
    profile = backend().job_profile(chosen[:200])
    if profile is None:
        raise MatchInputError(
            Message(N_("There is no published role with that id here: choose one from the list.")),
            HTTPStatus.NOT_FOUND,
            "unknown-profile",
        )
    return profile


def _page_items() -> list[Presentation]:
    items = []
    for upload in request.files.getlist("files"):
        if not upload or not upload.filename:
            continue
        label = upload.filename.replace("\\", "/").rsplit("/", 1)[-1][:MAX_LABEL] or say(
            Message(N_("a file"))
        )
        data = upload.read()
        if not data:
            said = Message.of(
                N_("%(file)s is empty: choose the credential file again."), file=label
            )
            raise MatchInputError(said)
        items.append(Presentation(label, verify_any(data)))
    pasted = request.form.get("credential", "").strip()
    if pasted:
        found = verify_any(pasted) if looks_like_wallet(pasted) else verify_input(pasted)
        # Labels are said in the page's language: they are only ever shown on this page.
        items.append(Presentation(say(Message(N_("pasted credential"))), found))
    if not items:
        said = Message(
            N_(
                "Nothing to match yet: choose the worker's credential files or wallet, or paste "
                "a credential, then press Match."
            )
        )
        raise MatchInputError(said, code="no-credentials")
    return items


@bp.post("/match")
@limited(VERIFY)
def submit() -> ResponseReturnValue:
    """Verify every presented credential and match them against the chosen role."""
    try:
        profile = _page_profile()
        items = _page_items()
        refuse_non_credentials(items)
    except MatchInputError as e:
        return _form(e.said, e.status)
    return _form(result=run_match(profile, items))


@bp.errorhandler(HTTPException)
def page_error(error: HTTPException) -> Response:
    """Too large an upload re-shows the form with the limit; other errors as on every page."""
    if isinstance(error, RequestEntityTooLarge):
        return _form(
            Message.of(
                N_(
                    "The files are too large together: at most %(limit)s MB can be matched at once."
                ),
                limit=_limit_mb(),
            ),
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            keep_input=False,
        )
    return http_error(error)


# -- the API ----------------------------------------------------------------------------------


def _profile_or_problem(value: str | Mapping[str, Any]) -> JobProfile:
    if isinstance(value, str):
        profile = backend().job_profile(value)
        if profile is None:
            raise MatchInputError(
                Message(
                    f"there is no published job profile with the id {value[:100]!r}; "
                    "GET /api/v1/job-profiles lists them"
                ),
                HTTPStatus.NOT_FOUND,
                "unknown-profile",
            )
        return profile
    try:
        return profile_from_data(value)
    except ProfileError as e:
        raise ValidationError({"profile": [str(e)]}) from e


def _api_items(values: Sequence[Any]) -> list[Presentation]:
    items = []
    total = 0
    for number, value in enumerate(values, start=1):
        found = verify_any(value) if looks_like_wallet(value) else verify_input(value)
        items.append(Presentation(f"credential {number}", found))
        total += len(found.entries) if isinstance(found, WalletResult) else 1
        if total > MAX_WALLET_CREDENTIALS:
            break  # refuse_non_credentials says so; verifying more would be wasted work
    return items


def _evidence(ev: Evidence) -> dict[str, Any]:
    return {
        "label": ev.label,
        "achievement": ev.achievement_name,
        "issuer": ev.issuer_name,
        "verdict": ev.verdict.value,
        "verified": ev.verdict.value == "valid",
        "reason": str(ev.reason) if ev.reason is not None else None,
    }


def match_report(result: MatchResult) -> dict[str, Any]:
    """The JSON form of a match (``MatchResponseSchema``)."""
    profile = result.profile
    report: dict[str, Any] = MatchResponseSchema().dump(
        {
            "profile": {
                "id": profile.id,
                "name": profile.name,
                "source": profile.source,
                "description": profile.description or None,
                "occupation": profile.occupation,
            },
            "summary": {
                "tasks": len(result.tasks),
                "covered": result.covered,
                "complete": result.complete,
            },
            "tasks": [
                {
                    "name": t.task.name,
                    "skills": list(t.task.skills),
                    "achievements": list(t.task.achievements),
                    "covered": t.covered,
                    "covered_by": [_evidence(e) for e in t.covered_by],
                    "not_counted": [_evidence(e) for e in t.not_counted],
                    "offerings": [
                        {
                            "achievement_id": o.achievement_id,
                            "name": o.name,
                            "issuer": o.issuer_name,
                            "url": o.url,
                        }
                        for o in t.offerings
                    ],
                }
                for t in result.tasks
            ],
            "credentials": [
                {
                    "label": p.label,
                    "verdict": p.result.verdict.value,
                    "verified": p.result.verified,
                    "achievement": achievement_name(p.result.credential)
                    if p.result.credential
                    else None,
                    "issuer": issuer_name(p.result.credential) if p.result.credential else None,
                    "reason": str(why) if (why := reason(p.result)) is not None else None,
                }
                for p in result.presented
            ],
        }
    )
    return report


@api_bp.post("/api/v1/match")
@limited(VERIFY)
def match_api() -> ResponseReturnValue:
    """Match credentials (or a wallet sent as the raw body) against a job profile."""
    try:
        if request.mimetype in FILE_MEDIA_TYPES:
            query = MatchQuerySchema().load({"profile": request.args.get("profile")})
            profile = _profile_or_problem(query["profile"])
            items = [Presentation("request body", verify_any(request.get_data()))]
        else:
            data = MatchRequestSchema().load(read_json_body())
            profile = _profile_or_problem(data["profile"])
            items = _api_items(data["credentials"])
        refuse_non_credentials(items)
    except MatchInputError as e:
        return problem(e.code, str(e), int(e.status))
    return match_report(run_match(profile, items)), HTTPStatus.OK


@api_bp.get("/api/v1/job-profiles")
def job_profiles_api() -> tuple[dict[str, Any], HTTPStatus]:
    """The job profiles offered here: centres' published ones, then the catalogue."""
    profiles = [
        {
            "id": p.id,
            "name": p.name,
            "source": p.source,
            "description": p.description or None,
            "occupation": p.occupation,
            "tasks": [
                {"name": t.name, "skills": list(t.skills), "achievements": list(t.achievements)}
                for t in p.tasks
            ],
        }
        for p in backend().job_profiles()
    ]
    return JobProfileListSchema().dump({"profiles": profiles}), HTTPStatus.OK


# -- OpenAPI ----------------------------------------------------------------------------------


def document_api(spec: APISpec) -> None:
    """Add the matching endpoints and their schemas to an OpenAPI document."""
    for name, schema in (
        ("JobProfileInput", JobProfileInputSchema),
        ("MatchRequest", MatchRequestSchema),
        ("MatchResponse", MatchResponseSchema),
        ("JobProfileList", JobProfileListSchema),
    ):
        spec.components.schema(name, schema=schema)
    spec.tag({"name": "match", "description": "Job-task matching of a worker's credentials"})
    problems = {
        "400": "Problem",
        "413": "Problem",
        "415": "Problem",
        "422": "Problem",
        "429": openapi_429("checking is counted per client network"),
    }
    spec.path(
        path="/api/v1/match",
        operations={
            "post": {
                "tags": ["match"],
                "operationId": "matchJobProfile",
                "summary": "Match a worker's credentials against a job profile, task by task",
                "description": (
                    "Every credential is verified as POST /api/v1/verify does (a CLR 2.0 wallet "
                    "counts as each credential in it). A task is covered by a valid credential "
                    "for an achievement the task names or aligned to one of its skills; revoked, "
                    "expired, not yet valid, unrecognised-issuer, invalid and unchecked "
                    "credentials never count and are listed under notCounted with the reason. "
                    "Tasks not covered list the achievements offered on this service that would "
                    "cover them. A wallet or credential file (ZIP, baked PNG or SVG, CLR, "
                    "VC-JWT) may instead be sent as the raw body with ?profile=<id>. At most "
                    f"{MAX_WALLET_CREDENTIALS:,} credentials per request. An input that is not "
                    "a credential at all is a 422 naming it."
                ),
                "parameters": [
                    {
                        "name": "profile",
                        "in": "query",
                        "required": False,
                        "description": "with a file body: the published job profile's id",
                        "schema": {"type": "string", "maxLength": 200},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "description": "the job profile and the worker's credentials",
                    "content": {
                        "application/json": {"schema": "MatchRequest"},
                        **{
                            media: {"schema": {"type": "string", "format": "binary"}}
                            for media in sorted(FILE_MEDIA_TYPES)
                        },
                    },
                },
                "responses": {
                    "200": {
                        "description": "the match: summary, each task, each credential's verdict",
                        "content": {"application/json": {"schema": "MatchResponse"}},
                    },
                    "404": "Problem",
                    **problems,
                },
            }
        },
    )
    spec.path(
        path="/api/v1/job-profiles",
        operations={
            "get": {
                "tags": ["match"],
                "operationId": "listJobProfiles",
                "summary": "The job profiles offered for matching",
                "description": (
                    "Profiles published by the training centres of this service (a standalone "
                    "verifier has none), then the occupations shipped with Tessera (ids "
                    "catalogue:<key>), whose skills are ESCO skill URIs."
                ),
                "responses": {
                    "200": {
                        "description": "the published job profiles",
                        "content": {"application/json": {"schema": "JobProfileList"}},
                    }
                },
            }
        },
    )
