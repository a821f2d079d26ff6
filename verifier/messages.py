"""Words for people, made where something is found and put into a language where it is read.

The pipeline, the wallet check and the job match say what they found as a :class:`Message`:
an English template (the gettext message id, with ``%(name)s`` placeholders) and its values.
``str(message)`` is the English text that the API, the CLI and the logs carry; :func:`say`
renders it in the reader's language at the edge (a page, the e-mail), with dates, numbers
and ages written that language's way. Templates are marked with :func:`N_`, which
``pybabel extract`` finds; nothing is translated where it is made, because the reader's
language is not known there (and one result may be shown to several readers).

The credential core (``credentials/``) stays English: its errors name JSON members, claims and
algorithms, which no translation would make clearer. A failure it causes is explained for
people by its stable code (:func:`explain`), in every language; the error's own words are
kept as the technical detail beside the explanation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Union

from babel.units import format_unit
from flask import current_app, has_request_context
from flask_babel import gettext as babel_gettext
from flask_babel import ngettext as babel_ngettext

from credentials.dates import format_datetime

from . import i18n

Value = Union[str, int, float, datetime, timedelta, "Message"]


def N_(text: str) -> str:
    """Mark ``text`` as a message to translate later, where it is shown (gettext_noop)."""
    return text


def Nn_(singular: str, plural: str) -> tuple[str, str]:
    """Mark a plural message, found by ``pybabel extract -k Nn_:1,2`` (see babel.cfg)."""
    return singular, plural


@dataclass(frozen=True, slots=True)
class Message:
    """A sentence for a person: an English template and the values it is filled with.

    ``plural`` and ``count`` make it a plural message: the template is the singular, and the
    count is the ``%(num)s`` value (gettext's convention), chosen by each language's rules.
    """

    text: str
    values: tuple[tuple[str, Value], ...] = ()
    plural: str | None = None
    count: int | None = None

    @classmethod
    def of(cls, text: str, /, **values: Value) -> Message:
        return cls(text, tuple(values.items()))

    @classmethod
    def counted(cls, singular: str, plural: str, count: int, /, **values: Value) -> Message:
        return cls(singular, tuple(values.items()), plural, count)

    def __str__(self) -> str:
        """The message in English, as the API, the CLI and the logs give it."""
        values = {name: _english(value) for name, value in self.values}
        text = self.text
        if self.plural is not None and self.count is not None:
            values["num"] = _english(self.count)
            text = self.text if self.count == 1 else self.plural
        return text % values if values else text


def _english(value: Value) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, timedelta):
        return describe_age(value)
    return str(value)


def _localised(value: Value) -> str:
    if isinstance(value, Message):
        return say(value)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return i18n.number(value)
    if isinstance(value, datetime):
        return i18n.long_datetime(value)
    if isinstance(value, timedelta):
        amount, unit = _age_in_units(value)
        locale = i18n.current_language()
        return format_unit(amount, f"duration-{unit}", length="long", locale=locale)
    return value


def _translating() -> bool:
    return has_request_context() and "babel" in current_app.extensions


def say(message: Message | str | None) -> str:
    """``message`` in the reader's language (English outside a request), values localised."""
    if message is None:
        return ""
    if isinstance(message, str):
        return message
    if not _translating():
        return str(message)
    values = {name: _localised(value) for name, value in message.values}
    if message.plural is not None and message.count is not None:
        values["num"] = i18n.number(message.count)  # grouped the reader's way, like the rest
        return babel_ngettext(message.text, message.plural, message.count, **values)
    return babel_gettext(message.text, **values)


# -- ages ---------------------------------------------------------------------------------------


def _age_in_units(age: timedelta) -> tuple[int, str]:
    """An age in the largest unit that reads naturally: minutes, then hours, then days."""
    minutes = max(0, int(age.total_seconds() // 60))
    if minutes < 120:
        return minutes, "minute"
    hours = minutes // 60
    if hours < 72:
        return hours, "hour"
    return hours // 24, "day"


def describe_age(age: timedelta) -> str:
    """``40 minutes``, ``5 hours``, ``3 days``: an age in English."""
    amount, unit = _age_in_units(age)
    return f"{amount} {unit}{'s' if amount != 1 else ''}"


#: Each verdict in a sentence's middle ("added (expired)"), by its value.
VERDICTS: Mapping[str, str] = {
    "valid": N_("valid"),
    "revoked": N_("revoked"),
    "expired": N_("expired"),
    "not yet valid": N_("not yet valid"),
    "invalid": N_("invalid"),
    "issuer not recognised": N_("issuer not recognised"),
    "could not check": N_("could not check"),
}


#: Open Badges 3.0 achievement types (its AchievementType vocabulary) and our own extension,
#: as a reader calls them. Other ``ext:`` types are a centre's own words, shown as written.
ACHIEVEMENT_TYPES: Mapping[str, str] = {
    "Achievement": N_("Achievement"),
    "ApprenticeshipCertificate": N_("Apprenticeship certificate"),
    "Assessment": N_("Assessment"),
    "Assignment": N_("Assignment"),
    "AssociateDegree": N_("Associate degree"),
    "Award": N_("Award"),
    "Badge": N_("Badge"),
    "BachelorDegree": N_("Bachelor's degree"),
    "Certificate": N_("Certificate"),
    "CertificateOfCompletion": N_("Certificate of completion"),
    "Certification": N_("Certification"),
    "CommunityService": N_("Community service"),
    "Competency": N_("Competency"),
    "Course": N_("Course"),
    "CoCurricular": N_("Co-curricular activity"),
    "Degree": N_("Degree"),
    "Diploma": N_("Diploma"),
    "DoctoralDegree": N_("Doctoral degree"),
    "Fieldwork": N_("Fieldwork"),
    "GeneralEducationDevelopment": N_("General Educational Development (GED)"),
    "JourneymanCertificate": N_("Journeyman certificate"),
    "LearningProgram": N_("Learning programme"),
    "License": N_("Licence"),
    "Membership": N_("Membership"),
    "ProfessionalDoctorate": N_("Professional doctorate"),
    "QualityAssuranceCredential": N_("Quality assurance credential"),
    "MasterCertificate": N_("Master certificate"),
    "MasterDegree": N_("Master's degree"),
    "MicroCredential": N_("Micro-credential"),
    "ResearchDoctorate": N_("Research doctorate"),
    "SecondarySchoolDiploma": N_("Secondary school diploma"),
    "ext:JobTask": N_("Job task"),
}

#: HTTP statuses a public page can answer with, as the error page names them.
STATUS_PHRASES: Mapping[int, str] = {
    400: N_("Bad request"),
    403: N_("Forbidden"),
    404: N_("Not found"),
    405: N_("Method not allowed"),
    409: N_("Conflict"),
    410: N_("Gone"),
    413: N_("Content too large"),
    415: N_("Unsupported media type"),
    422: N_("Unprocessable content"),
    429: N_("Too many requests"),
    500: N_("Internal server error"),
    502: N_("Bad gateway"),
    503: N_("Service unavailable"),
    504: N_("Gateway timeout"),
}


def status_phrase(status: int, default: str) -> str:
    """The name of HTTP ``status`` in the reader's language (``default`` for any other)."""
    text = STATUS_PHRASES.get(status)
    return say(Message(text)) if text is not None else default


# -- why a check failed, by error code ------------------------------------------------------------

#: A credential-core error explained for people, by its stable code. The error's own English
#: words stay the technical detail; these are what the reader reads first, in their language.
EXPLANATIONS: Mapping[str, str] = {
    "credential-error": N_("the credential could not be read"),
    "malformed-credential": N_("this is not a well-formed credential"),
    "too-large": N_("the input is too large to be a credential"),
    "unknown-context": N_(
        "the credential uses a vocabulary (JSON-LD context) this verifier does not know"
    ),
    "undefined-term": N_("the credential uses a term that its vocabulary does not define"),
    "canonicalization-failed": N_(
        "the credential's data could not be prepared for checking its signature"
    ),
    "invalid-proof": N_(
        "the signature does not match: the credential was changed after it was signed, "
        "or it was not signed with the issuer's key"
    ),
    "no-proof": N_("the credential carries no signature"),
    "unsupported-algorithm": N_("the credential is signed in a way this verifier does not accept"),
    "key-mismatch": N_(
        "the credential was signed with a key that does not belong to the issuer it names"
    ),
    "claim-mismatch": N_("the signed envelope and the credential inside it disagree"),
    "unresolvable-key": N_(
        "the issuer's key could not be looked up, so the signature could not be checked"
    ),
    "fetch-failed": N_(
        "the issuer's key could not be fetched from its website, so the signature could not "
        "be checked"
    ),
    "expired": N_("the credential has expired"),
    "not-yet-valid": N_("the credential is not valid yet"),
    "schema-invalid": N_("the credential does not follow the Open Badges 3.0 structure"),
    "status-unavailable": N_("the issuer's revocation list could not be checked"),
    "stale-status": N_("the revocation data is too old to rely on: get a fresh verifier kit"),
    "invalid-status-list": N_("the issuer's revocation list is damaged"),
    "invalid-wallet": N_("this is not a well-formed wallet"),
    "invalid-archive": N_("the file is not a readable wallet archive"),
    "invalid-baked-image": N_("the image does not carry a readable credential"),
    "malformed-portable-payload": N_("the QR code's data is damaged or incomplete"),
    "unknown-portable-version": N_(
        "the QR code was made by a newer version of this software: update the verifier"
    ),
    "invalid-kit": N_("the verifier kit is damaged"),
    "kit-signature": N_("the verifier kit's signature does not verify"),
    "untrusted-kit": N_("the verifier kit was not signed by the signer this verifier trusts"),
    "kit-expired": N_("the verifier kit has expired: get a fresh one"),
}


def with_detail(said: Message, detail: str | None) -> Message:
    """``said``, followed by the technical words in brackets when there are any."""
    if not detail:
        return said
    return Message.of(N_("%(said)s (%(detail)s)"), said=said, detail=detail)


def explain(code: str | None) -> Message:
    """What a failure with ``code`` means, for a person; a general sentence for other codes."""
    text = EXPLANATIONS.get(code or "")
    return Message(text) if text is not None else Message(N_("this check did not pass"))
