"""The verifier kit from the operator's and the employer's side: GET /kit.json, `tessera kit
export`, `tessera verify --offline --kit`, and the standalone verifier in offline mode."""

from __future__ import annotations

import copy
import json
import re
import time
from datetime import timedelta
from http import HTTPStatus

import pytest

from credentials import kit as kits
from issuer import services
from issuer.cli import cli
from issuer.clock import utcnow
from keys.crypto import public_jwk
from keys.did import did_document
from verifier.app import ConfigurationError, create_verifier_app

from ..conftest import PUBLIC_URL
from ..helpers import key_of, make_credential, make_signer, signed_json

PIN = re.compile(r"\b(z6Mk[1-9A-HJ-NP-Za-km-z]+)\b")


def invoke(runner, *args, input=None):
    """Run ``tessera ARGS``; whatever happens, the operator never sees a traceback."""
    result = runner.invoke(cli, [str(a) for a in args], input=input)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def _issue(db, kek, centre, welding, name="Amina Haddad"):
    return services.issue_credential(
        db,
        kek,
        organisation=centre,
        achievement=welding,
        name=name,
        email=f"{name.split()[0].lower()}@example.org",
        public_url=PUBLIC_URL,
        now=utcnow() - timedelta(days=2),
    ).record


@pytest.fixture
def issued(db, kek, centre, welding):
    """Two credentials of the centre, the second revoked."""
    good = _issue(db, kek, centre, welding)
    bad = _issue(db, kek, centre, welding, name="Oleksandr Kovalenko")
    services.revoke_credential(db, bad, reason="Issued in error", now=utcnow())
    return good, bad


@pytest.fixture
def kit_file(runner, issued, tmp_path):
    """`tessera kit export` run now; returns the file and the pin it printed."""
    out = tmp_path / "kit.json"
    result = invoke(runner, "kit", "export", "--out", out)
    assert result.exit_code == 0, result.output
    assert "1 status list(s)" in result.output
    return out, PIN.search(result.output).group(1)


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return path


# -- GET /kit.json --------------------------------------------------------------------------


def test_kit_json_is_served_signed_and_cacheable_briefly(client, issued, centre):
    response = client.get("/kit.json")
    assert response.status_code == HTTPStatus.OK
    assert response.headers["Cache-Control"] == "public, max-age=60"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    kit = response.get_json()
    assert kit["type"] == "TesseraVerifierKit"
    assert kit["issuer"] == "did:web:tessera.test"
    assert kit["proof"]["verificationMethod"].startswith("did:web:tessera.test#")
    assert [i["id"] for i in kit["issuers"]] == ["did:web:tessera.test", centre.did]


def test_downloaded_kit_verifies_offline(client, runner, issued, tmp_path, no_network):
    good, _ = issued
    kit = _write(tmp_path, "downloaded.json", client.get("/kit.json").get_data(as_text=True))
    pin = invoke(runner, "kit", "export", "--out", tmp_path / "other.json").output
    credential = _write(tmp_path, "good.jwt", good.jwt)
    result = invoke(
        runner, "verify", "--offline", "--kit", kit, "--trust", PIN.search(pin).group(1), credential
    )
    assert result.exit_code == 0, result.output
    assert "Verdict: VALID" in result.output
    assert no_network == []


# -- the CLI contract -----------------------------------------------------------------------


def test_export_prints_what_to_pin(kit_file):
    path, pin = kit_file
    kit = json.loads(path.read_text("utf-8"))
    assert kit["proof"]["verificationMethod"] == "did:web:tessera.test#key-1"
    assert pin.startswith("z6Mk")


def test_verify_offline_valid_exits_zero_and_states_the_age(
    runner, issued, kit_file, tmp_path, no_network
):
    good, _ = issued
    path, pin = kit_file
    credential = _write(tmp_path, "good.json", good.document)
    result = invoke(runner, "verify", "--offline", "--kit", path, "--trust", pin, credential)
    assert result.exit_code == 0, result.output
    assert "Verifier kit: did:web:tessera.test" in result.output
    assert "Verdict: VALID" in result.output
    assert re.search(
        r"revocation data: revocation data from \S+ \(\d+ minutes? old\)", result.output
    )
    assert no_network == []


def test_verify_offline_revoked_exits_non_zero(runner, issued, kit_file, tmp_path, no_network):
    _, bad = issued
    path, pin = kit_file
    credential = _write(tmp_path, "bad.jwt", bad.jwt)
    result = invoke(runner, "verify", "--kit", path, "--trust", pin, "--json", credential)
    assert result.exit_code == 1
    body = json.loads(result.output)
    assert body["verdict"] == "revoked"
    assert no_network == []


def test_verify_offline_with_a_short_max_age_reports_stale(
    runner, issued, kit_file, tmp_path, monkeypatch
):
    good, _ = issued
    path, pin = kit_file
    credential = _write(tmp_path, "good.jwt", good.jwt)
    monkeypatch.setenv("TESSERA_KIT_MAX_AGE", "1s")
    time.sleep(1.1)
    result = invoke(runner, "verify", "--offline", "--kit", path, "--trust", pin, credential)
    assert result.exit_code == 1
    assert "Verdict: COULD NOT CHECK" in result.output
    assert "stale" in result.output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda kit: kit["issuers"].pop(), "changed after it was signed"),
        (lambda kit: kit.update(type="Other"), "not a verifier kit"),
        (lambda kit: kit.pop("proof"), "carries no signature"),
    ],
)
def test_bad_kits_are_refused_in_one_line(runner, issued, kit_file, tmp_path, change, message):
    good, _ = issued
    path, pin = kit_file
    kit = json.loads(path.read_text("utf-8"))
    change(kit)
    bad_kit = _write(tmp_path, "bad-kit.json", json.dumps(kit))
    credential = _write(tmp_path, "good.jwt", good.jwt)
    result = invoke(runner, "verify", "--offline", "--kit", bad_kit, "--trust", pin, credential)
    assert result.exit_code != 0
    assert message in result.output
    assert "Verdict" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_kit_of_another_signer_or_without_a_pin_is_refused(
    runner, issued, kit_file, tmp_path, monkeypatch
):
    good, _ = issued
    path, _ = kit_file
    credential = _write(tmp_path, "good.jwt", good.jwt)
    other = make_signer("EdDSA", did="did:key").verification_method.split("#")[1]
    result = invoke(runner, "verify", "--offline", "--kit", path, "--trust", other, credential)
    assert result.exit_code != 0
    assert "not signed by a pinned key" in result.output
    monkeypatch.delenv("TESSERA_KIT_TRUST", raising=False)
    result = invoke(runner, "verify", "--offline", "--kit", path, credential)
    assert result.exit_code != 0
    assert "no kit signer is pinned" in result.output


def test_offline_without_a_kit_is_a_usage_error(runner, tmp_path):
    credential = _write(tmp_path, "x.json", "{}")
    result = invoke(runner, "verify", "--offline", credential)
    assert result.exit_code == 2
    assert "--offline needs --kit FILE" in result.output


def test_expired_kit_is_refused(runner, issued, tmp_path):
    good, _ = issued
    out = tmp_path / "short.json"
    exported = invoke(runner, "kit", "export", "--out", out, "--valid-for", "1s")
    assert exported.exit_code == 0, exported.output
    time.sleep(1.1)
    credential = _write(tmp_path, "good.jwt", good.jwt)
    pin = PIN.search(exported.output).group(1)
    result = invoke(runner, "verify", "--offline", "--kit", out, "--trust", pin, credential)
    assert result.exit_code != 0
    assert "expired on" in result.output


def test_export_refuses_a_bad_duration(runner, tmp_path):
    result = invoke(runner, "kit", "export", "--out", tmp_path / "k.json", "--valid-for", "soon")
    assert result.exit_code == 2
    assert "not a duration" in result.output
    assert not (tmp_path / "k.json").exists()


# -- the standalone verifier in offline mode ----------------------------------------------------


def _offline_app(path, pin, **settings):
    return create_verifier_app(
        {
            "TESTING": True,
            "PUBLIC_URL": "https://verify.test",
            "VERIFIER_KIT": str(path),
            "KIT_TRUST": pin,
        }
        | settings
    )


def _csrf(response):
    return re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True)).group(1)


def test_standalone_verifier_offline_serves_verify_with_the_age(issued, kit_file, no_network):
    good, bad = issued
    path, pin = kit_file
    app = _offline_app(path, pin)
    assert app.extensions["tessera.public_resolution"].client is None  # no HTTP client at all
    client = app.test_client()
    token = _csrf(client.get("/verify"))
    page = client.post("/verify", data={"credential": good.jwt, "csrf_token": token})
    assert page.status_code == HTTPStatus.OK
    text = page.get_data(as_text=True)
    assert 'data-verdict="valid"' in text
    assert "Checked offline with a verifier kit." in text
    assert re.search(
        r"revocation data from \d+ \w+ \d{4}, \d\d:\d\d UTC \(\d+ minutes? old\)", text
    )
    revoked = client.post("/api/v1/verify", json={"credential": bad.jwt}).get_json()
    assert revoked["verdict"] == "revoked"
    assert no_network == []


def test_standalone_verifier_offline_says_stale(issued, kit_file, no_network):
    good, _ = issued
    path, pin = kit_file
    time.sleep(1.1)
    client = _offline_app(path, pin, KIT_MAX_AGE="1s").test_client()
    token = _csrf(client.get("/verify"))
    text = client.post("/verify", data={"credential": good.document, "csrf_token": token}).get_data(
        as_text=True
    )
    assert 'data-verdict="could not check"' in text
    assert "the revocation data is too old to rely on" in text
    assert "stale" in text
    assert no_network == []


def test_standalone_verifier_picks_up_a_refreshed_kit(issued, kit_file, runner, tmp_path):
    good, _ = issued
    path, pin = kit_file
    app = _offline_app(path, pin)
    client = app.test_client()
    first = client.post("/api/v1/verify", json={"credential": good.jwt}).get_json()
    fresh = tmp_path / "fresh.json"
    assert invoke(runner, "kit", "export", "--out", fresh).exit_code == 0
    kit = json.loads(fresh.read_text("utf-8"))
    path.write_text(json.dumps(kit), "utf-8")
    second = client.post("/api/v1/verify", json={"credential": good.jwt}).get_json()
    assert first["verdict"] == second["verdict"] == "valid"
    note = next(c for c in second["checks"] if c["name"] == "revocation data")
    assert kit["issued"] in note["message"]
    # A tampered replacement is not taken up: the last good kit stays in use.
    broken = copy.deepcopy(kit)
    broken["issuers"].pop()
    path.write_text(json.dumps(broken) + " ", "utf-8")
    third = client.post("/api/v1/verify", json={"credential": good.jwt}).get_json()
    assert third["verdict"] == "valid"


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"KIT_TRUST": ""}, "TESSERA_KIT_TRUST"),
        ({"KIT_MAX_AGE": "soon"}, "TESSERA_KIT_MAX_AGE"),
        (
            {"KIT_TRUST": "z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"},
            "not signed by a pinned",
        ),
    ],
)
def test_standalone_verifier_refuses_to_start_with_a_bad_kit_setup(
    issued, kit_file, settings, named
):
    path, pin = kit_file
    with pytest.raises(ConfigurationError, match=named):
        _offline_app(path, pin, **settings)


def test_standalone_verifier_with_an_unknown_issuer_offline(kit_file, no_network):
    path, pin = kit_file
    client = _offline_app(path, pin).test_client()
    foreign = make_signer("EdDSA", did="did:web:elsewhere.example")
    body = client.post("/api/v1/verify", json={"credential": signed_json(foreign)}).get_json()
    assert body["verdict"] == "could not check"
    assert no_network == []


# -- carrying another instance's issuers ------------------------------------------------------


@pytest.fixture
def partner(tmp_path):
    """Another instance's kit (its own signer) with one did:web centre, and a credential of it."""
    centre_key = make_signer("EdDSA", did="did:web:partner.example:orgs:east", fragment="key-1")
    did = centre_key.verification_method.partition("#")[0]
    document = did_document(
        did,
        [
            (
                key_of(centre_key),
                public_jwk(
                    centre_key.public_key, kid=centre_key.verification_method, algorithm="EdDSA"
                ),
            )
        ],
    )
    kit_signer = make_signer("EdDSA", did="did:key")
    signer_did = kit_signer.verification_method.partition("#")[0]
    now = utcnow()
    unsigned = kits.build_kit(
        signer_did=signer_did,
        issuers=[kits.issuer_entry(did, "East Partner Centre", did_document=document)],
        issued=now,
        valid_until=now + timedelta(days=3),
    )
    path = _write(tmp_path, "partner.json", json.dumps(kits.sign_kit(unsigned, kit_signer)))
    credential = _write(
        tmp_path,
        "partner-credential.json",
        json.dumps(signed_json(centre_key, make_credential(issuer_did=did))),
    )
    return path, kit_signer.verification_method.partition("#")[2], credential


def test_export_carries_another_instances_issuers_once_checked(
    runner, issued, partner, tmp_path, no_network
):
    other_kit, other_pin, credential = partner
    out = tmp_path / "merged.json"
    refused = invoke(runner, "kit", "export", "--out", out, "--include", other_kit)
    assert refused.exit_code == 1
    assert "no kit signer is pinned" in refused.output
    assert not out.exists()
    result = invoke(
        runner, "kit", "export", "--out", out, "--include", other_kit, "--include-trust", other_pin
    )
    assert result.exit_code == 0, result.output
    assert "3 issuer(s)" in result.output
    pin = PIN.search(result.output.split("pin this key")[1]).group(1)
    verified = invoke(runner, "verify", "--offline", "--kit", out, "--trust", pin, credential)
    assert verified.exit_code == 0, verified.output
    assert "did:web:partner.example:orgs:east is a recognised issuer" in verified.output
    assert no_network == []
