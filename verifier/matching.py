"""Job-task matching: which tasks of a role a worker's verified credentials cover.

A job profile describes a role as tasks; a task is covered by a credential whose verdict is
``valid`` and whose achievement is one the task names (by its id) or is aligned to one of the
task's skills (by the alignment's ``targetUrl``, e.g. an ESCO skill URI). A credential that would
cover a task but is revoked, expired, not yet valid, from an issuer nobody recognises, or could
not be checked never counts; the result keeps it beside the task with the reason, so the page
can say why. Gaps are offered the achievements on this host that would fill them.

Everything here is pure: the host passes verified results and a way to find offerings.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from .messages import N_, Message
from .pipeline import Check, Outcome, Verdict, VerificationResult

MAX_TASKS = 100
MAX_REFERENCES = 50  # skills plus achievements named by one task
MAX_NAME = 200
MAX_URI = 500


class ProfileError(ValueError):
    """A job profile is malformed; the message says what to change.

    ``said`` is the same, for a page in the reader's language (English words otherwise).
    """

    code = "invalid-profile"

    def __init__(self, message: str | Message) -> None:
        super().__init__(str(message))
        self.said = message if isinstance(message, Message) else Message(message)


@dataclass(frozen=True, slots=True)
class Task:
    """One task of a role, and what proves someone can do it."""

    name: str
    skills: tuple[str, ...] = ()  # skill URIs (ESCO), matched against alignment targetUrl
    achievements: tuple[str, ...] = ()  # achievement ids, as credentials carry them


@dataclass(frozen=True, slots=True)
class JobProfile:
    """A role described task by task."""

    name: str
    tasks: tuple[Task, ...]
    id: str | None = None  # None for a profile built on the page and not saved
    description: str = ""
    occupation: str | None = None  # an ESCO occupation URI
    source: str | None = None  # who published it: a centre's name, or "Tessera catalogue"


@dataclass(frozen=True, slots=True)
class Offering:
    """An achievement on this host that would cover a task."""

    achievement_id: str
    name: str
    issuer_name: str
    url: str | None = None  # where to read about it


@dataclass(frozen=True, slots=True)
class Presented:
    """One presented credential, as verified."""

    label: str
    result: VerificationResult


@dataclass(frozen=True, slots=True)
class Evidence:
    """A credential that covers (or would cover) a task."""

    label: str
    achievement_name: str
    issuer_name: str
    verdict: Verdict
    reason: Message | None = None  # why it does not count, when it does not


@dataclass(frozen=True, slots=True)
class TaskMatch:
    task: Task
    covered_by: tuple[Evidence, ...]
    not_counted: tuple[Evidence, ...]
    offerings: tuple[Offering, ...] = ()

    @property
    def covered(self) -> bool:
        return bool(self.covered_by)


@dataclass(frozen=True, slots=True)
class MatchResult:
    profile: JobProfile
    tasks: tuple[TaskMatch, ...]
    presented: tuple[Presented, ...] = field(default=())

    @property
    def covered(self) -> int:
        return sum(1 for t in self.tasks if t.covered)

    @property
    def complete(self) -> bool:
        return bool(self.tasks) and all(t.covered for t in self.tasks)


# -- reading a credential ---------------------------------------------------------------------


def _subject(credential: Mapping[str, Any]) -> Mapping[str, Any]:
    subject = credential.get("credentialSubject")
    if isinstance(subject, list) and subject:
        subject = subject[0]
    return subject if isinstance(subject, Mapping) else {}


def _achievement(credential: Mapping[str, Any]) -> Mapping[str, Any]:
    achievement = _subject(credential).get("achievement")
    return achievement if isinstance(achievement, Mapping) else {}


def achievement_id(credential: Mapping[str, Any]) -> str | None:
    value = _achievement(credential).get("id")
    return value if isinstance(value, str) else None


def aligned_skills(credential: Mapping[str, Any]) -> frozenset[str]:
    """The ``targetUrl`` of every alignment of the credential's achievement."""
    alignments = _achievement(credential).get("alignment")
    if not isinstance(alignments, list):
        return frozenset()
    return frozenset(
        a["targetUrl"]
        for a in alignments[:MAX_REFERENCES]
        if isinstance(a, Mapping) and isinstance(a.get("targetUrl"), str)
    )


def _name(value: object) -> str:
    return value.strip()[:MAX_NAME] if isinstance(value, str) and value.strip() else ""


def achievement_name(credential: Mapping[str, Any]) -> str:
    return _name(_achievement(credential).get("name")) or "Unnamed achievement"


def issuer_name(credential: Mapping[str, Any]) -> str:
    issuer = credential.get("issuer")
    if isinstance(issuer, Mapping):
        return _name(issuer.get("name")) or _name(issuer.get("id")) or "Unknown issuer"
    return _name(issuer) or "Unknown issuer"


def covers(task: Task, credential: Mapping[str, Any]) -> bool:
    """Whether ``credential`` is for an achievement ``task`` names or a skill it needs."""
    if (found := achievement_id(credential)) is not None and found in task.achievements:
        return True
    return not aligned_skills(credential).isdisjoint(task.skills)


_REASONS = {
    Verdict.REVOKED: N_("revoked by its issuer"),
    Verdict.EXPIRED: N_("expired"),
    Verdict.NOT_YET_VALID: N_("not yet valid"),
    Verdict.INVALID: N_("failed verification"),
    Verdict.ISSUER_NOT_RECOGNISED: N_("its issuer is not one this verifier recognises"),
    Verdict.COULD_NOT_CHECK: N_("could not be checked"),
}
#: Verdicts whose deciding check already says what happened ("expired on …"): said once.
_SELF_EXPLAINED = frozenset({Verdict.REVOKED, Verdict.EXPIRED, Verdict.NOT_YET_VALID})


def _deciding(result: VerificationResult) -> Check | None:
    for outcome in (Outcome.FAILED, Outcome.COULD_NOT_CHECK):
        if (check := next((c for c in result.checks if c.outcome == outcome), None)) is not None:
            return check
    return None


def reason(result: VerificationResult) -> Message | None:
    """Why a credential does not count: the verdict, then the check that decided it."""
    if result.verdict == Verdict.VALID:
        return None
    words = Message(_REASONS.get(result.verdict, str(result.verdict)))
    check = _deciding(result)
    if check is None:
        return words
    if result.verdict in _SELF_EXPLAINED:
        return check.said
    return Message.of(N_("%(verdict)s: %(why)s"), verdict=words, why=check.said)


# -- matching ---------------------------------------------------------------------------------


def match(
    profile: JobProfile,
    presented: Sequence[Presented],
    *,
    offerings_for: Callable[[Task], Iterable[Offering]] = lambda task: (),
) -> MatchResult:
    """Match verified credentials against a profile, task by task.

    Only a ``valid`` verdict counts. A credential whose content could not be read (no
    ``credential`` in its result) cannot cover anything and is left out of every task.
    """
    tasks = []
    for task in profile.tasks:
        covered: list[Evidence] = []
        not_counted: list[Evidence] = []
        for item in presented:
            credential = item.result.credential
            if credential is None or not covers(task, credential):
                continue
            evidence = Evidence(
                label=item.label,
                achievement_name=achievement_name(credential),
                issuer_name=issuer_name(credential),
                verdict=item.result.verdict,
                reason=reason(item.result),
            )
            (covered if item.result.verified else not_counted).append(evidence)
        offerings = () if covered else tuple(offerings_for(task))
        tasks.append(TaskMatch(task, tuple(covered), tuple(not_counted), offerings))
    return MatchResult(profile, tuple(tasks), tuple(presented))


# -- profiles from data -----------------------------------------------------------------------


def _uri(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ProfileError(f"{what} must be a URI")
    text = value.strip()
    parts = urlsplit(text)
    if (
        len(text) > MAX_URI
        or parts.scheme not in ("http", "https", "urn")
        or not (parts.netloc or parts.scheme == "urn")
    ):
        raise ProfileError(f"{what} must be an http(s) or urn: URI of at most {MAX_URI} characters")
    return text


def _text(value: object, what: str, limit: int, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise ProfileError(f"{what} is required")
    if len(value.strip()) > limit:
        raise ProfileError(f"{what} must be at most {limit} characters")
    return value.strip()


def _uris(value: object, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ProfileError(f"{what} must be a list of URIs")
    return tuple(dict.fromkeys(_uri(item, what) for item in value))


def profile_from_data(
    data: object, *, id: str | None = None, source: str | None = None
) -> JobProfile:
    """A profile from its JSON form: ``{"name", "description"?, "occupation"?, "tasks": [{"name",
    "skills": [URI], "achievements": [URI]}]}``. Every task needs at least one skill or achievement.

    Raises:
        ProfileError: the data is malformed; the message names what.
    """
    if not isinstance(data, Mapping):
        raise ProfileError("a job profile must be a JSON object with a name and tasks")
    name = _text(data.get("name"), "the profile's name", MAX_NAME)
    description = _text(data.get("description"), "the description", 5_000, required=False)
    occupation = data.get("occupation")
    occupation = _uri(occupation, "the occupation") if occupation not in (None, "") else None
    raw_tasks = data.get("tasks")
    if not isinstance(raw_tasks, list) or not raw_tasks:
        raise ProfileError("a job profile needs at least one task")
    if len(raw_tasks) > MAX_TASKS:
        raise ProfileError(f"a job profile has at most {MAX_TASKS} tasks")
    tasks = []
    for number, raw in enumerate(raw_tasks, start=1):
        if not isinstance(raw, Mapping):
            raise ProfileError(f"task {number} must be an object with a name and skills")
        task = Task(
            name=_text(raw.get("name"), f"task {number}'s name", MAX_NAME),
            skills=_uris(raw.get("skills"), f"task {number}'s skills"),
            achievements=_uris(raw.get("achievements"), f"task {number}'s achievements"),
        )
        if not task.skills and not task.achievements:
            raise ProfileError(
                f"task {number} ({task.name}) needs at least one skill or achievement"
            )
        if len(task.skills) + len(task.achievements) > MAX_REFERENCES:
            raise ProfileError(
                f"task {number} names more than {MAX_REFERENCES} skills and achievements"
            )
        tasks.append(task)
    return JobProfile(
        name=name,
        tasks=tuple(tasks),
        id=id,
        description=description,
        occupation=occupation,
        source=source,
    )


def profile_to_data(profile: JobProfile) -> dict[str, Any]:
    """The JSON form :func:`profile_from_data` reads."""
    data: dict[str, Any] = {"name": profile.name}
    if profile.id is not None:
        data["id"] = profile.id
    if profile.description:
        data["description"] = profile.description
    if profile.occupation:
        data["occupation"] = profile.occupation
    data["tasks"] = [
        {"name": t.name, "skills": list(t.skills), "achievements": list(t.achievements)}
        for t in profile.tasks
    ]
    return data


CATALOGUE_SOURCE = "Tessera catalogue"


@cache
def catalogue() -> tuple[JobProfile, ...]:
    """The occupations shipped with Tessera (``verifier/data/job_profiles.json``)."""
    text = resources.files(__package__).joinpath("data/job_profiles.json").read_text("utf-8")
    return tuple(
        profile_from_data(entry, id=f"catalogue:{entry['key']}", source=CATALOGUE_SOURCE)
        for entry in json.loads(text)["profiles"]
    )
