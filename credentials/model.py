"""Values the credential core builds documents from. Frozen: build, never mutate."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

#: Achievement types Open Badges 3.0 defines; extensions are spelled ``ext:Name``.
ACHIEVEMENT_TYPES = frozenset(
    {
        "Achievement",
        "ApprenticeshipCertificate",
        "Assessment",
        "Assignment",
        "AssociateDegree",
        "Award",
        "Badge",
        "BachelorDegree",
        "Certificate",
        "CertificateOfCompletion",
        "Certification",
        "CommunityService",
        "Competency",
        "Course",
        "CoCurricular",
        "Degree",
        "Diploma",
        "DoctoralDegree",
        "Fieldwork",
        "GeneralEducationDevelopment",
        "JourneymanCertificate",
        "LearningProgram",
        "License",
        "Membership",
        "ProfessionalDoctorate",
        "QualityAssuranceCredential",
        "MasterCertificate",
        "MasterDegree",
        "MicroCredential",
        "ResearchDoctorate",
        "SecondarySchoolDiploma",
    }
)

ESCO_FRAMEWORK = "European Skills, Competences, Qualifications and Occupations (ESCO)"


@dataclass(frozen=True, slots=True)
class Alignment:
    """An alignment of an achievement to a skill in a framework (OB 3.0 ``Alignment``)."""

    target_name: str
    target_url: str
    target_framework: str | None = None
    target_code: str | None = None
    target_type: str | None = None

    @classmethod
    def esco_skill(cls, uri: str, name: str) -> Alignment:
        """An alignment to an ESCO skill, identified by its URI."""
        code = uri.rstrip("/").rsplit("/", 1)[-1]
        return cls(
            target_name=name,
            target_url=uri,
            target_framework=ESCO_FRAMEWORK,
            target_code=code,
            target_type="ceasn:Competency",
        )


@dataclass(frozen=True, slots=True)
class Achievement:
    """The job-task competency a credential attests (OB 3.0 ``Achievement``)."""

    id: str
    name: str
    description: str
    criteria_narrative: str
    achievement_type: str = "Competency"
    alignments: tuple[Alignment, ...] = ()
    criteria_id: str | None = None


@dataclass(frozen=True, slots=True)
class IssuerProfile:
    """The training centre as it appears in a credential (OB 3.0 ``Profile``)."""

    id: str
    name: str
    url: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Recipient:
    """The learner. The e-mail never appears in the credential, only its salted hash."""

    name: str
    email: str = field(repr=False)
    salt: str = field(repr=False)
    did: str | None = None

    @property
    def identity_hash(self) -> str:
        return hash_email(self.email, self.salt)


def normalize_email(email: str) -> str:
    """The form of an e-mail address that Tessera hashes: trimmed and lower-cased.

    Open Badges leaves normalisation to the issuer; lower-casing means "Ana@Example.org" and
    "ana@example.org" match, which is what a worker typing their address expects.
    """
    return email.strip().lower()


def hash_email(email: str, salt: str) -> str:
    """Return the OB 3.0 ``IdentityHash`` of an e-mail: ``sha256$`` + hex(SHA-256(email + salt))."""
    digest = hashlib.sha256((normalize_email(email) + salt).encode("utf-8")).hexdigest()
    return "sha256$" + digest
