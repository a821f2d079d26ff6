"""The ``tessera`` command in-process: what an operator sees, and what it leaves behind."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from issuer import pathways, services
from issuer.cli import cli
from issuer.demo import demo_credentials
from issuer.models import Achievement, AuditEvent, IssuedCredential, Organisation, PathwayAward
from issuer.profiles import published

from ..conftest import PUBLIC_URL
from ..helpers import WELDING_SKILL

SKILL = f"{WELDING_SKILL}=perform metal active gas welding"
MISSING_ID = "00000000-0000-4000-8000-000000000000"


def invoke(runner, *args, input=None):
    """Run ``tessera ARGS``; whatever happens, the operator never sees a traceback."""
    result = runner.invoke(cli, [str(a) for a in args], input=input)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def _count(db, model):
    return db.scalar(select(func.count()).select_from(model))


def _counts(db):
    return {
        m.__name__: _count(db, m) for m in (Organisation, Achievement, IssuedCredential, AuditEvent)
    }


def _create_org(runner, slug="northside", *extra):
    result = invoke(
        runner, "org", "create", "--slug", slug, "--name", "Northside Skills Centre", *extra
    )
    assert result.exit_code == 0, result.output
    return result


def _issue(runner, achievement_id, out, *extra, org="northside"):
    result = invoke(
        runner,
        "issue",
        "--org",
        org,
        "--achievement",
        achievement_id,
        "--name",
        "Amina Haddad",
        "--email",
        "amina@example.org",
        "--out",
        out,
        "--json",
        *extra,
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture
def journey(runner, tmp_path):
    """A centre, an achievement and one credential, all made through the command line."""
    _create_org(runner)
    achievement = invoke(
        runner,
        "achievement",
        "create",
        "--org",
        "northside",
        "--name",
        "Perform MAG welding on structural steel",
        "--description",
        "Lays fillet and butt welds on structural steel.",
        "--criteria",
        "Passed visual and bend testing.",
        "--type",
        "ext:JobTask",
        "--skill",
        SKILL,
    )
    assert achievement.exit_code == 0, achievement.output
    issued = _issue(runner, achievement.output.strip(), tmp_path / "out")
    return issued | {"achievement": achievement.output.strip()}


def test_issue_awards_the_automatic_pathway_it_completes(runner, db, journey, tmp_path, now):
    centre = services.get_organisation(db, "northside")
    welding = db.scalars(select(Achievement)).one()
    first_aid = services.create_achievement(
        db,
        organisation=centre,
        name="Provide first aid at work",
        description="Gives emergency first aid.",
        criteria="Passed a scenario assessment.",
        achievement_type="Competency",
        skills=(),
        now=now,
    )
    award = services.create_achievement(
        db,
        organisation=centre,
        name="Site Safety Technician",
        description="Welding and first aid.",
        criteria="Holds both parts.",
        achievement_type="Certificate",
        skills=(),
        now=now,
    )
    pathways.create_pathway(
        db,
        centre,
        award=award.public_id,
        parts=[welding.public_id, first_aid.public_id],
        mode="automatic",
        now=now,
        actor="test",
    )
    issued = _issue(runner, first_aid.public_id, tmp_path / "second")  # Amina held welding
    [earned] = issued["pathways"]
    assert earned["name"] == "Site Safety Technician"
    record = services.get_credential(db, earned["id"])
    assert record.recipient_email == "amina@example.org"
    evidence = json.loads(record.document)["evidence"]
    assert {e["id"] for e in evidence} == {journey["verify_url"], issued["verify_url"]}


def _file(journey, suffix):
    return next(Path(f) for f in journey["files"] if f.endswith(suffix))


# -- the journey ---------------------------------------------------------------------------


def test_org_create_prints_the_centres_did(runner):
    result = _create_org(runner)
    assert "did:web:tessera.test:orgs:northside" in result.output


def test_achievement_create_prints_its_id(runner, db, journey):
    achievement = db.scalars(select(Achievement)).one()
    assert journey["achievement"] == achievement.public_id
    assert json.loads(achievement.alignments)[0]["targetUrl"] == WELDING_SKILL


def test_issue_prints_where_the_credential_is_and_writes_both_files(journey):
    assert set(journey) - {"achievement"} == {
        "id",
        "public_id",
        "verify_url",
        "claim_url",
        "files",
        "pathways",
    }
    assert journey["pathways"] == []  # no pathway here to complete
    assert journey["id"].startswith("urn:uuid:")
    assert journey["verify_url"] == f"{PUBLIC_URL}/v/{journey['public_id']}"
    assert [Path(f).suffix for f in journey["files"]] == [".json", ".jwt"]
    document = json.loads(_file(journey, ".json").read_text("utf-8"))
    assert document["id"] == journey["id"]
    assert document["credentialSubject"]["name"] == "Amina Haddad"
    assert _file(journey, ".jwt").read_text("utf-8").count(".") == 2


@pytest.mark.parametrize("suffix", [".json", ".jwt"])
def test_issued_files_verify(runner, journey, suffix):
    result = invoke(runner, "verify", _file(journey, suffix))
    assert result.exit_code == 0, result.output
    assert "Verdict: VALID" in result.output
    assert "Holder:     Amina Haddad" in result.output
    assert "Issuer:     Northside Skills Centre" in result.output
    assert "FAIL" not in result.output


def test_verify_json_report(runner, journey):
    result = invoke(runner, "verify", "--json", _file(journey, ".jwt"))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["verdict"] == "valid"
    assert report["verified"] is True
    assert isinstance(report["checks"], list)
    assert {c["name"] for c in report["checks"]} >= {"format", "proof", "dates", "issuer"}
    assert {c["outcome"] for c in report["checks"]} == {"passed"}


@pytest.mark.parametrize("suffix", [".json", ".jwt"])
def test_verify_reads_standard_input(runner, journey, suffix):
    result = invoke(runner, "verify", "-", input=_file(journey, suffix).read_text("utf-8"))
    assert result.exit_code == 0, result.output
    assert "Verdict: VALID" in result.output


def test_verify_standard_input_with_garbage_is_invalid(runner):
    result = invoke(runner, "verify", "-", input="hello, I am a credential\n")
    assert result.exit_code == 1
    assert "Verdict: INVALID" in result.output
    assert "[FAIL] format:" in result.output


# -- files that must not verify ------------------------------------------------------------


def _tampered_json(journey, tmp_path):
    document = json.loads(_file(journey, ".json").read_text("utf-8"))
    document["credentialSubject"]["name"] = "Mallory Impostor"
    return json.dumps(document, indent=2).encode()


def _tampered_jwt(journey, tmp_path):
    header, payload, signature = _file(journey, ".jwt").read_text("utf-8").strip().split(".")
    # A character in the middle: the last one may only carry base64 padding bits.
    i = len(signature) // 2
    flipped = "B" if signature[i] == "A" else "A"
    return f"{header}.{payload}.{signature[:i]}{flipped}{signature[i + 1 :]}".encode()


def _truncated_jwt(journey, tmp_path):
    token = _file(journey, ".jwt").read_text("utf-8").strip()
    return token[: len(token) // 2].encode()


def _jwt_without_signature_tail(journey, tmp_path):
    token = _file(journey, ".jwt").read_text("utf-8").strip()
    return token[:-40].encode()


def _malformed_json(journey, tmp_path):
    return b'{"@context": ["https://www.w3.org/ns/credentials/v2"], "type": [,]}'


def _empty(journey, tmp_path):
    return b""


def _fifty_megabytes(journey, tmp_path):
    return b"{" + b" " * (50 * 1024 * 1024) + b"}"


@pytest.mark.parametrize(
    ("make", "failed_check", "reason"),
    [
        pytest.param(_tampered_json, "proof", "Data Integrity proof", id="tampered-json"),
        pytest.param(_tampered_jwt, "proof", "VC-JWT", id="tampered-jwt-signature"),
        pytest.param(_truncated_jwt, "format", "neither", id="truncated-jwt"),
        pytest.param(_jwt_without_signature_tail, "proof", "VC-JWT", id="jwt-short-signature"),
        pytest.param(_malformed_json, "format", "malformed", id="malformed-json"),
        pytest.param(_empty, "format", "neither", id="empty-file"),
        pytest.param(_fifty_megabytes, "format", "are not accepted", id="50-MB-file"),
    ],
)
def test_bad_files_do_not_verify_and_say_why(runner, journey, tmp_path, make, failed_check, reason):
    path = tmp_path / "suspect.txt"
    path.write_bytes(make(journey, tmp_path))
    result = invoke(runner, "verify", path)
    assert result.exit_code == 1, result.output
    assert "Verdict: INVALID" in result.output
    assert f"[FAIL] {failed_check}: " in result.output
    failed_line = next(line for line in result.output.splitlines() if "[FAIL]" in line)
    assert reason in failed_line
    assert "Verdict: VALID" not in result.output


def test_bad_file_json_report_says_invalid(runner, journey, tmp_path):
    path = tmp_path / "tampered.json"
    path.write_bytes(_tampered_json(journey, tmp_path))
    result = invoke(runner, "verify", "--json", path)
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["verdict"] == "invalid"
    assert any(c["name"] == "proof" and c["outcome"] == "failed" for c in report["checks"])


def test_verify_missing_file_is_a_clear_error(runner, tmp_path):
    result = invoke(runner, "verify", tmp_path / "missing.jwt")
    assert result.exit_code != 0
    assert "missing.jwt" in result.output
    assert "No such file" in result.output
    assert "Verdict" not in result.output


# -- bad input writes nothing --------------------------------------------------------------


@pytest.fixture
def centres(db, kek, now, tmp_path):
    """Two centres with an achievement each; placeholders for the arguments below."""
    achievements = {}
    for slug in ("northside", "southside"):
        centre = services.create_organisation(
            db,
            kek,
            slug=slug,
            name=f"{slug.title()} Skills Centre",
            public_url=PUBLIC_URL,
            now=now,
        )
        achievements[slug] = services.create_achievement(
            db,
            organisation=centre,
            name="Perform MAG welding",
            description="Welds steel.",
            criteria="Passed bend tests.",
            skills=[SKILL],
            now=now,
        ).public_id
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("I am a file\n")
    return {
        "own": achievements["northside"],
        "foreign": achievements["southside"],
        "file": str(a_file),
        "out": str(tmp_path / "out"),
    }


ORG = ("org", "create", "--slug", "westside", "--name", "Westside")
ACHIEVEMENT = (
    "achievement",
    "create",
    "--org",
    "northside",
    "--name",
    "Weld",
    "--description",
    "Welds.",
    "--criteria",
    "Bend tests.",
)
ISSUE = (
    "issue",
    "--org",
    "northside",
    "--achievement",
    "{own}",
    "--name",
    "Amina Haddad",
    "--email",
    "amina@example.org",
    "--out",
    "{out}",
)


def _replace(args, option, value):
    i = args.index(option)
    return (*args[: i + 1], value, *args[i + 2 :])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            _replace(ORG, "--name", "   "), "--name: must not be blank", id="org-blank-name"
        ),
        pytest.param(_replace(ORG, "--slug", "West Side"), "--slug:", id="org-bad-slug"),
        pytest.param(
            _replace(ORG, "--slug", "northside"), "already exists", id="org-duplicate-slug"
        ),
        pytest.param((*ORG, "--jwt-alg", "HS256"), "Invalid value for '--jwt-alg'", id="org-hs256"),
        pytest.param(
            (*ORG, "--did-method", "key", "--jwt-alg", "RS256"),
            "EdDSA",
            id="org-did-key-with-rs256",
        ),
        pytest.param(
            _replace(ACHIEVEMENT, "--name", " "),
            "--name: must not be blank",
            id="achievement-blank-name",
        ),
        pytest.param(
            _replace(ACHIEVEMENT, "--org", "nowhere"),
            "no training centre",
            id="achievement-unknown-org",
        ),
        pytest.param(
            (*ACHIEVEMENT, "--skill", "https://skills.example/welding=welding"),
            "not an ESCO skill URI",
            id="achievement-non-esco-skill",
        ),
        pytest.param(
            (*ACHIEVEMENT, "--skill", SKILL, "--skill", "welding"),
            "not an ESCO skill URI",
            id="achievement-second-skill-bad",
        ),
        pytest.param(
            (*ACHIEVEMENT, "--type", "Badge Of Honour"),
            "not an Open Badges type",
            id="achievement-bad-type",
        ),
        pytest.param(
            _replace(ISSUE, "--email", "amina-at-example.org"),
            "--email: Not a valid email",
            id="issue-invalid-email",
        ),
        pytest.param(
            _replace(ISSUE, "--name", "  "), "--name: must not be blank", id="issue-blank-name"
        ),
        pytest.param(
            _replace(ISSUE, "--org", "nowhere"), "no training centre", id="issue-unknown-org"
        ),
        pytest.param(
            _replace(ISSUE, "--achievement", MISSING_ID),
            "has no achievement",
            id="issue-unknown-achievement",
        ),
        pytest.param(
            _replace(ISSUE, "--achievement", "{foreign}"),
            "has no achievement",
            id="issue-achievement-of-another-centre",
        ),
        pytest.param(_replace(ISSUE, "--out", "{file}"), "--out", id="issue-out-is-a-file"),
        pytest.param(
            (*ISSUE, "--valid-until", "next spring"),
            "--valid-until",
            id="issue-valid-until-not-a-date",
        ),
        pytest.param(
            (*ISSUE, "--valid-until", "2030-06-30T23:59:59"),
            "--valid-until",
            id="issue-valid-until-without-time-zone",
        ),
        pytest.param(
            (*ISSUE, "--valid-until", "2020-06-30T23:59:59Z"),
            "must be later than",
            id="issue-valid-until-in-the-past",
        ),
        pytest.param(
            ("keys", "rotate", "--org", "nowhere"),
            "no training centre",
            id="keys-rotate-unknown-org",
        ),
        pytest.param(
            ("keys", "export-jwks", "--org", "nowhere"),
            "no training centre",
            id="keys-export-unknown-org",
        ),
    ],
)
def test_bad_input_is_refused_clearly_and_writes_nothing(runner, db, centres, args, message):
    before = _counts(db)
    result = invoke(runner, *(a.format(**centres) for a in args))
    assert result.exit_code != 0, result.output
    assert result.output.startswith(("Error: ", "Usage: ")), result.output
    assert message in result.output
    assert _counts(db) == before
    assert not Path(centres["out"]).exists()


# -- keys ----------------------------------------------------------------------------------


def test_rotation_prints_new_keys_and_old_credentials_still_verify(runner, journey, tmp_path):
    result = invoke(runner, "keys", "rotate", "--org", "northside")
    assert result.exit_code == 0, result.output
    did = "did:web:tessera.test:orgs:northside"
    assert result.output.splitlines() == [
        f"New active key: {did}#key-3",
        f"New active key: {did}#key-4",
    ]
    for suffix in (".json", ".jwt"):
        old = invoke(runner, "verify", _file(journey, suffix))
        assert old.exit_code == 0, old.output
        assert "Verdict: VALID" in old.output
    new = _issue(runner, journey["achievement"], tmp_path / "after")
    document = json.loads(_file(new, ".json").read_text("utf-8"))
    assert document["proof"][0]["verificationMethod"] == f"{did}#key-3"
    assert invoke(runner, "verify", _file(new, ".jwt")).exit_code == 0


def test_a_did_key_centre_cannot_rotate(runner, db):
    _create_org(runner, "keyside", "--did-method", "key")
    before = _counts(db)
    result = invoke(runner, "keys", "rotate", "--org", "keyside")
    assert result.exit_code != 0
    assert "did:key" in result.output
    assert "cannot rotate" in result.output
    assert _counts(db) == before


def test_export_jwks_prints_public_keys_only(runner, journey):
    result = invoke(runner, "keys", "export-jwks", "--org", "northside")
    assert result.exit_code == 0, result.output
    jwks = json.loads(result.output)
    assert len(jwks["keys"]) == 2
    for key in jwks["keys"]:
        assert "d" not in key
        assert key["kid"].startswith("did:web:tessera.test:orgs:northside#")
    assert {key["kty"] for key in jwks["keys"]} == {"OKP", "RSA"}


# -- idempotency, audit, demo --------------------------------------------------------------


def test_issue_with_the_same_idempotency_key_twice_issues_once(runner, db, journey, tmp_path):
    before = _count(db, IssuedCredential)
    first = _issue(
        runner, journey["achievement"], tmp_path / "retry", "--idempotency-key", "row-17"
    )
    again = _issue(
        runner, journey["achievement"], tmp_path / "retry", "--idempotency-key", "row-17"
    )
    assert again["id"] == first["id"]
    assert again["verify_url"] == first["verify_url"]
    assert _count(db, IssuedCredential) == before + 1


def test_audit_chain_is_intact_after_the_journey(runner, db, journey):
    # centre created, credential issued, its claim link created
    assert _count(db, AuditEvent) == 4
    result = invoke(runner, "audit", "verify")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Audit chain intact: 4 events."


def test_demo_is_idempotent(runner, db):
    first = invoke(runner, "demo")
    assert first.exit_code == 0, first.output
    again = invoke(runner, "demo")
    assert again.exit_code == 0, again.output
    claim = re.compile(re.escape(PUBLIC_URL) + r"/claim/[A-Za-z0-9_-]+")
    # The same centre and credentials; only the claim links are new (old ones retire).
    assert claim.sub("<claim>", again.output) == claim.sub("<claim>", first.output)
    # Three learners here, the partner centre's credential, and the pathway it completed.
    assert len(demo_credentials(db)) == 4
    assert _count(db, Organisation) == 2
    assert first.output.count(f"{PUBLIC_URL}/v/") == 5
    assert len(claim.findall(first.output)) == 5
    assert "María José Ortega: Site Safety Technician" in first.output
    assert _count(db, PathwayAward) == 1
    assert "Warehouse operative" in {p.name for p in published(db, PUBLIC_URL)}
    assert set(claim.findall(first.output)).isdisjoint(claim.findall(again.output))


# -- revoking ------------------------------------------------------------------------------


def test_revoke_then_verify_says_revoked(runner, journey):
    revoked = invoke(runner, "revoke", journey["id"], "--reason", "Issued to the wrong learner")
    assert revoked.exit_code == 0, revoked.output
    assert "Revoked" in revoked.output and "within 300 seconds" in revoked.output
    for suffix in (".json", ".jwt"):
        result = invoke(runner, "verify", _file(journey, suffix))
        assert result.exit_code == 1
        assert "Verdict: REVOKED" in result.output
        assert "revoked by its issuer" in result.output


def test_revoke_accepts_the_public_id_too(runner, journey):
    result = invoke(runner, "revoke", journey["public_id"], "--reason", "Duplicate")
    assert result.exit_code == 0, result.output


def test_a_second_revoke_is_a_clear_conflict_that_changes_nothing(runner, db, journey):
    invoke(runner, "revoke", journey["id"], "--reason", "First")
    before = _counts(db)
    again = invoke(runner, "revoke", journey["id"], "--reason", "Second")
    assert again.exit_code == 1
    assert again.output.startswith("Error: this credential was already revoked on ")
    assert "(First)" in again.output
    assert _counts(db) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("revoke", "urn:uuid:00000000-0000-4000-8000-000000000000", "--reason", "x"),
            "no credential",
        ),
        (("revoke", "{id}", "--reason", "   "), "give a reason"),
        (("revoke", "{id}"), "Missing option '--reason'"),
    ],
    ids=["unknown-id", "blank-reason", "no-reason"],
)
def test_revoke_refuses_bad_input_and_writes_nothing(runner, db, journey, args, message):
    before = _counts(db)
    result = invoke(runner, *(a.format(id=journey["id"]) for a in args))
    assert result.exit_code != 0
    assert message in result.output
    assert _counts(db) == before


def test_verify_outside_any_instance_works_offline_and_creates_nothing(tmp_path, monkeypatch):
    """An employer with only the command: did:key credentials verify, nothing is written."""
    from click.testing import CliRunner

    from ..helpers import make_signer, signed_json

    monkeypatch.chdir(tmp_path)
    for name in ("TESSERA_INSTANCE", "TESSERA_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    credential = tmp_path / "badge.json"
    credential.write_text(json.dumps(signed_json(make_signer(did="did:key"))))
    result = CliRunner().invoke(cli, ["verify", str(credential)])
    assert "Traceback" not in result.output
    assert "Verdict: ISSUER NOT RECOGNISED" in result.output
    assert "[ok  ] proof" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["badge.json"]
