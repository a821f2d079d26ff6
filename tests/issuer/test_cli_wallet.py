"""The ``tessera`` command and wallets: claim links, exports an employer can check, the outbox.

Runs in-process on the test app, as tests/issuer/test_cli.py does.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from http import HTTPStatus
from pathlib import Path

import pytest
from click.testing import CliRunner

from credentials.proofs import data_integrity
from credentials.wallet import build_clr
from issuer import mail
from issuer.cli import cli

from ..conftest import PUBLIC_URL
from ..helpers import NOW, WELDING_SKILL, make_credential, make_signer, signed_json

EMAIL = "amina@example.org"
WELDING = "Perform MAG welding on structural steel"
RIGGING = "Sling and rig loads for lifting"


def invoke(runner, *args, input=None):
    """Run ``tessera ARGS``; whatever happens, the operator never sees a traceback."""
    result = runner.invoke(cli, [str(a) for a in args], input=input)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def _ok(runner, *args):
    result = invoke(runner, *args)
    assert result.exit_code == 0, result.output
    return result.output


def _achievement(runner, name):
    return _ok(
        runner,
        "achievement",
        "create",
        "--org",
        "northside",
        "--name",
        name,
        "--description",
        f"{name}, safely.",
        "--criteria",
        "Passed a practical test.",
        "--skill",
        f"{WELDING_SKILL}=perform metal active gas welding",
    ).strip()


def _issue(runner, achievement, out, email=EMAIL, name="Amina Haddad"):
    printed = _ok(
        runner,
        "issue",
        "--org",
        "northside",
        "--achievement",
        achievement,
        "--name",
        name,
        "--email",
        email,
        "--out",
        out,
        "--json",
    )
    return json.loads(printed)


@pytest.fixture
def issued(runner, tmp_path):
    """A centre, two achievements, both issued to Amina (and one to Yusuf), via the CLI."""
    _ok(runner, "org", "create", "--slug", "northside", "--name", "Northside Skills Centre")
    welding = _achievement(runner, WELDING)
    rigging = _achievement(runner, RIGGING)
    out = tmp_path / "issued"
    records = {
        WELDING: _issue(runner, welding, out),
        RIGGING: _issue(runner, rigging, out),
    }
    _issue(runner, welding, out, email="yusuf@example.org", name="Yusuf Demir")
    return records


def _entries(output):
    """The wallet report's per-credential blocks: {label: text of the block}."""
    blocks = re.split(r"\n\n(?=credential \d+:\n)", output)
    return {block.split(":", 1)[0]: block for block in blocks[1:]}


# -- tessera issue --json -----------------------------------------------------------------


def test_issue_json_prints_a_claim_url_that_opens_the_wallet(runner, client, issued):
    record = issued[WELDING]
    assert set(record) == {"id", "public_id", "verify_url", "claim_url", "files", "pathways"}
    assert record["claim_url"].startswith(f"{PUBLIC_URL}/claim/")
    opened = client.get(record["claim_url"].removeprefix(PUBLIC_URL))
    assert opened.status_code == HTTPStatus.SEE_OTHER
    assert opened.headers["Location"].endswith("/wallet")
    page = client.get("/wallet").get_data(as_text=True)
    assert "Your credentials, Amina Haddad" in page
    assert WELDING in page and RIGGING in page  # same centre, same person: both
    assert "Yusuf" not in page


def test_each_issue_prints_a_different_claim_url(issued):
    assert issued[WELDING]["claim_url"] != issued[RIGGING]["claim_url"]


# -- tessera wallet export, then tessera verify ----------------------------------------------


def test_export_writes_a_clr_that_verify_accepts(runner, issued, tmp_path):
    out = tmp_path / "w.json"
    printed = _ok(runner, "wallet", "export", "--email", EMAIL, "--out", out)
    assert printed.strip() == f"Wrote 2 credential(s) of a•••@example.org to {out}"
    clr = json.loads(out.read_text("utf-8"))
    assert "ClrCredential" in clr["type"]
    inner = clr["credentialSubject"]["verifiableCredential"]
    assert sorted(c["id"] for c in inner) == sorted(r["id"] for r in issued.values())
    assert clr["proof"][0]["verificationMethod"].startswith("did:web:tessera.test#")

    result = invoke(runner, "verify", out)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Wallet: VALID (2 credential(s): 2 valid)")
    assert "Wallet's own proof: valid" in result.output
    entries = _entries(result.output)
    assert list(entries) == ["credential 1", "credential 2"]
    assert all("Verdict: VALID" in block for block in entries.values())
    assert "FAIL" not in result.output


def test_export_is_case_and_space_insensitive_about_the_email(runner, issued, tmp_path):
    out = tmp_path / "w.json"
    _ok(runner, "wallet", "export", "--email", "Amina@Example.ORG", "--out", out)
    assert len(json.loads(out.read_text())["credentialSubject"]["verifiableCredential"]) == 2


def test_export_zip_writes_a_zip_that_verify_accepts(runner, issued, tmp_path):
    out = tmp_path / "w.zip"
    printed = _ok(runner, "wallet", "export", "--email", EMAIL, "--out", out, "--zip")
    assert f"Wrote 2 credential(s) of a•••@example.org to {out}" in printed
    with zipfile.ZipFile(out) as opened:
        assert opened.testzip() is None
        names = opened.namelist()
    assert names[:2] == ["README.txt", "wallet.json"]
    for suffix in ("credential.json", "credential.jwt", "badge.png", "badge.svg", "qr.png"):
        assert sum(name.endswith("/" + suffix) for name in names) == 2, suffix

    result = invoke(runner, "verify", out)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Wallet: VALID (2 credential(s): 2 valid)")
    assert "(wallet.json)" in result.output


def test_a_baked_badge_from_the_zip_verifies(runner, issued, tmp_path):
    out = tmp_path / "w.zip"
    _ok(runner, "wallet", "export", "--email", EMAIL, "--out", out, "--zip")
    with zipfile.ZipFile(out) as opened:
        name = next(n for n in opened.namelist() if n.endswith("/badge.png"))
        badge = tmp_path / "badge.png"
        badge.write_bytes(opened.read(name))
    result = invoke(runner, "verify", badge)
    assert result.exit_code == 0, result.output
    assert "Verdict: VALID" in result.output
    assert "baked into a PNG badge" in result.output
    assert "Holder:     Amina Haddad" in result.output


def test_after_a_revocation_the_wallet_no_longer_verifies_and_says_which(runner, issued, tmp_path):
    out = tmp_path / "w.json"
    _ok(runner, "wallet", "export", "--email", EMAIL, "--out", out)
    _ok(runner, "revoke", issued[RIGGING]["id"], "--reason", "Issued by mistake")

    result = invoke(runner, "verify", out)
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Wallet: NOT VALID (2 credential(s): 1 revoked, 1 valid)")
    assert "Wallet's own proof: valid" in result.output  # the file itself is intact
    entries = _entries(result.output)
    (revoked,) = [block for block in entries.values() if "Verdict: REVOKED" in block]
    assert f"Competency: {RIGGING}" in revoked
    assert "revoked by its issuer" in revoked
    (valid,) = [block for block in entries.values() if "Verdict: VALID" in block]
    assert f"Competency: {WELDING}" in valid


def test_verify_json_prints_a_wallet_report(runner, issued, tmp_path):
    out = tmp_path / "w.json"
    _ok(runner, "wallet", "export", "--email", EMAIL, "--out", out)
    result = invoke(runner, "verify", "--json", out)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report) == {"verified", "form", "container", "wallet", "counts", "credentials"}
    assert report["verified"] is True
    assert report["form"] == "wallet" and report["container"] == "clr"
    assert report["wallet"]["verdict"] == "valid"
    assert report["counts"] == {"valid": 2}
    assert [c["label"] for c in report["credentials"]] == ["credential 1", "credential 2"]
    assert {c["verdict"] for c in report["credentials"]} == {"valid"}


def test_verify_json_of_a_revoked_wallet_exits_1(runner, issued, tmp_path):
    out = tmp_path / "w.zip"
    _ok(runner, "wallet", "export", "--email", EMAIL, "--out", out, "--zip")
    _ok(runner, "revoke", issued[WELDING]["id"], "--reason", "Issued by mistake")
    result = invoke(runner, "verify", "--json", out)
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["container"] == "zip"
    assert report["verified"] is False
    assert report["counts"] == {"valid": 1, "revoked": 1}


def test_a_tampered_wallet_file_does_not_verify(runner, issued, tmp_path):
    out = tmp_path / "w.json"
    _ok(runner, "wallet", "export", "--email", EMAIL, "--out", out)
    clr = json.loads(out.read_text("utf-8"))
    clr["credentialSubject"]["verifiableCredential"][0]["credentialSubject"]["name"] = "Mallory"
    out.write_text(json.dumps(clr), "utf-8")
    result = invoke(runner, "verify", out)
    assert result.exit_code == 1
    assert result.output.startswith("Wallet: NOT VALID")
    assert "Wallet's own proof: invalid" in result.output
    assert "[FAIL] proof: Data Integrity proof" in result.output


def test_a_wallet_from_standard_input_verifies(runner, issued, tmp_path):
    out = tmp_path / "w.json"
    _ok(runner, "wallet", "export", "--email", EMAIL, "--out", out)
    result = invoke(runner, "verify", "-", input=out.read_text("utf-8"))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Wallet: VALID")


def test_a_zip_bomb_is_refused_in_a_line(runner, tmp_path):
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as bomb,
        bomb.open("wallet.json", "w", force_zip64=True) as entry,
    ):
        for _ in range(50):
            entry.write(bytes(1024 * 1024))
    path = tmp_path / "bomb.zip"
    path.write_bytes(buffer.getvalue())
    result = invoke(runner, "verify", path)
    assert result.exit_code == 1
    assert result.output.startswith("Wallet: NOT VALID (0 credential(s))")
    assert "once unpacked" in result.output


# -- what the export refuses ------------------------------------------------------------------


def test_an_unknown_email_is_one_clear_line_and_writes_nothing(runner, issued, tmp_path):
    out = tmp_path / "w.json"
    result = invoke(runner, "wallet", "export", "--email", "nobody@example.org", "--out", out)
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1
    assert "no credentials" in result.output
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["issued"]  # no temporary files


def test_an_unknown_email_with_zip_writes_nothing_either(runner, issued, tmp_path):
    out = tmp_path / "w.zip"
    result = invoke(
        runner, "wallet", "export", "--email", "nobody@example.org", "--out", out, "--zip"
    )
    assert result.exit_code == 1
    assert result.output.startswith("Error: ")
    assert not out.exists()


def test_a_bad_email_is_a_usage_error(runner, issued, tmp_path):
    out = tmp_path / "w.json"
    result = invoke(runner, "wallet", "export", "--email", "amina-at-example.org", "--out", out)
    assert result.exit_code == 2
    assert result.output.startswith("Usage: ")
    assert "Invalid value for --email: not a valid e-mail address" in result.output
    assert not out.exists()


def test_out_pointing_at_a_folder_is_a_clear_error(runner, issued, tmp_path):
    folder = tmp_path / "wallets"
    folder.mkdir()
    result = invoke(runner, "wallet", "export", "--email", EMAIL, "--out", folder)
    assert result.exit_code == 2
    assert result.output.startswith("Usage: ")
    assert "--out" in result.output
    assert "folder" in result.output or "directory" in result.output
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("as_zip", [False, True], ids=["json", "zip"])
def test_out_in_a_missing_folder_is_a_clear_error_or_is_created(runner, issued, tmp_path, as_zip):
    out = tmp_path / "missing" / ("w.zip" if as_zip else "w.json")
    result = invoke(
        runner, "wallet", "export", "--email", EMAIL, "--out", out, *(["--zip"] if as_zip else [])
    )
    if result.exit_code == 0:  # like `tessera issue --out`, which creates its folder
        assert out.is_file()
        assert invoke(runner, "verify", out).exit_code == 0
    else:
        assert result.output.startswith(("Error: ", "Usage: ")), result.output
        assert "missing" in result.output
        assert not out.exists()


def test_an_unknown_email_creates_no_folder_either(runner, issued, tmp_path):
    out = tmp_path / "missing" / "w.json"
    result = invoke(runner, "wallet", "export", "--email", "nobody@example.org", "--out", out)
    assert result.exit_code == 1
    assert not out.parent.exists()


def test_out_inside_a_file_is_a_clear_error(runner, issued, tmp_path):
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("I am a file\n")
    result = invoke(runner, "wallet", "export", "--email", EMAIL, "--out", a_file / "w.json")
    assert result.exit_code == 2
    assert "--out" in result.output and "is not a folder" in result.output
    assert a_file.read_text() == "I am a file\n"


def test_export_needs_both_options(runner, tmp_path):
    result = invoke(runner, "wallet", "export", "--email", EMAIL)
    assert result.exit_code == 2
    assert "Missing option '--out'" in result.output


# -- tessera outbox -----------------------------------------------------------------------------


def test_an_empty_outbox_says_so(runner, app):
    result = invoke(runner, "outbox")
    assert result.exit_code == 0, result.output
    outbox = mail.outbox_path(app.config)
    assert result.output == f"The outbox ({outbox}) is empty.\n"


def test_the_outbox_prints_the_newest_message(runner, app):
    mail.send(
        app.config, to=EMAIL, subject="Your credentials: sign-in link", body="Hello\n", now=NOW
    )
    result = invoke(runner, "outbox")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("== ")
    assert "Your credentials: sign-in link" in result.output
    assert EMAIL in result.output


def test_written_files_are_named_as_asked(runner, issued, tmp_path):
    out = Path(tmp_path / "amina wallet (2026).json")
    _ok(runner, "wallet", "export", "--email", EMAIL, "--out", out)
    assert out.is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_verify_a_wallet_outside_any_instance_works_offline(tmp_path, monkeypatch):
    """An employer with only the command: a did:key wallet is checked, nothing is written."""
    monkeypatch.chdir(tmp_path)
    for name in ("TESSERA_INSTANCE", "TESSERA_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    centre, bundler = make_signer(did="did:key"), make_signer(did="did:key")
    did = centre.verification_method.partition("#")[0]
    credentials = [
        signed_json(centre, make_credential(issuer_did=did, id=f"urn:uuid:{n}")) for n in (1, 2)
    ]
    clr = build_clr(
        credentials,
        clr_id="urn:uuid:wallet",
        issuer={"id": bundler.verification_method.partition("#")[0], "type": ["Profile"]},
        name="Credentials",
        valid_from=NOW,
    )
    path = tmp_path / "wallet.json"
    path.write_text(json.dumps(data_integrity.add_proof(clr, bundler, created=NOW)))
    result = CliRunner().invoke(cli, ["verify", str(path)])
    assert "Traceback" not in result.output
    # Nobody vouched for the did:key centre here: intact, but not "valid".
    assert result.exit_code == 1
    assert result.output.startswith("Wallet: NOT VALID (2 credential(s): 2 issuer not recognised)")
    assert "Wallet's own proof: valid" in result.output
    assert result.output.count("[ok  ] proof: Data Integrity proof") == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wallet.json"]
