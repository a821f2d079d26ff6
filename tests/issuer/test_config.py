"""Configuration: production refuses to start half-configured; the embedded default just works."""

from __future__ import annotations

import logging
import os
import secrets
import stat

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from issuer.app import create_app
from issuer.cli import cli
from issuer.errors import ConfigurationError


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """Only what a test sets: no TESSERA_* variable of the shell running the tests."""
    for name in list(os.environ):
        if name.startswith("TESSERA_"):
            monkeypatch.delenv(name)


def _create_app(config):
    app = create_app(config)
    app.extensions["tessera.engine"].dispose()
    return app


@pytest.fixture
def base(tmp_path):
    return {"INSTANCE": str(tmp_path / "instance"), "DATABASE_URL": f"sqlite:///{tmp_path}/t.db"}


def _secrets():
    return {"SECRET_KEY": secrets.token_urlsafe(32), "KEK": Fernet.generate_key().decode()}


@pytest.mark.parametrize("how", ["config", "environment"])
def test_production_without_secrets_names_what_is_missing(monkeypatch, tmp_path, base, how):
    config = base | {"PUBLIC_URL": "https://badges.example.org"}
    if how == "config":
        config["ENV"] = "production"
    else:
        monkeypatch.setenv("TESSERA_ENV", "production")
    with pytest.raises(ConfigurationError) as raised:
        create_app(config)
    assert "TESSERA_SECRET_KEY" in str(raised.value)
    assert "TESSERA_KEK" in str(raised.value)
    # Production never falls back to generating secrets of its own.
    assert not (tmp_path / "instance" / "secrets.json").exists()


def test_production_names_only_the_missing_secret(base):
    config = base | {
        "ENV": "production",
        "PUBLIC_URL": "https://badges.example.org",
        "SECRET_KEY": secrets.token_urlsafe(32),
    }
    with pytest.raises(ConfigurationError, match="TESSERA_KEK") as raised:
        create_app(config)
    assert "TESSERA_SECRET_KEY" not in str(raised.value)


def test_production_refuses_a_plain_http_public_url(base):
    config = base | _secrets() | {"ENV": "production", "PUBLIC_URL": "http://badges.example.org"}
    with pytest.raises(ConfigurationError, match="https"):
        create_app(config)


def test_production_with_everything_set_starts(base):
    app = _create_app(
        base | _secrets() | {"ENV": "production", "PUBLIC_URL": "https://badges.example.org"}
    )
    assert app.config["PUBLIC_URL"] == "https://badges.example.org"


@pytest.mark.parametrize("kek", ["not-a-key", "  ", f"{Fernet.generate_key().decode()},nope"])
def test_an_invalid_kek_is_refused(base, kek):
    config = base | {"SECRET_KEY": secrets.token_urlsafe(32), "KEK": kek}
    with pytest.raises(ConfigurationError, match="TESSERA_KEK"):
        create_app(config)


@pytest.mark.parametrize(
    "url",
    [
        "badges.example.org",
        "ftp://badges.example.org",
        "https://",
        "https://badges.example.org/?x=1",
    ],
)
def test_a_public_url_that_is_not_an_http_url_is_refused(base, url):
    with pytest.raises(ConfigurationError, match="TESSERA_PUBLIC_URL"):
        create_app(base | _secrets() | {"PUBLIC_URL": url})


def test_embedded_default_generates_private_secrets_once(tmp_path, base, caplog):
    with caplog.at_level(logging.WARNING):
        first = _create_app(base)
    path = tmp_path / "instance" / "secrets.json"
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert str(path) in caplog.text
    assert first.config["SECRET_KEY"]
    assert first.config["KEK"]

    caplog.clear()
    again = _create_app(base)
    assert again.config["SECRET_KEY"] == first.config["SECRET_KEY"]
    assert again.config["KEK"] == first.config["KEK"]
    assert "Generated" not in caplog.text
    # A private key encrypted by the first start decrypts on the next one.
    token = first.config["KEK_FERNET"].encrypt(b"signing key")
    assert again.config["KEK_FERNET"].decrypt(token) == b"signing key"


def test_configuration_from_environment_variables(monkeypatch, tmp_path):
    given = _secrets()
    database_url = f"sqlite:///{tmp_path}/t.db"
    monkeypatch.setenv("TESSERA_ENV", "production")
    monkeypatch.setenv("TESSERA_INSTANCE", str(tmp_path / "from-env"))
    monkeypatch.setenv("TESSERA_DATABASE_URL", database_url)
    monkeypatch.setenv("TESSERA_PUBLIC_URL", "https://badges.example.org/")
    monkeypatch.setenv("TESSERA_SECRET_KEY", given["SECRET_KEY"])
    monkeypatch.setenv("TESSERA_KEK", given["KEK"])
    monkeypatch.setenv("TESSERA_TRUSTED_ISSUERS", "did:web:a.example, did:web:b.example")
    app = _create_app(None)
    assert app.config["ENV"] == "production"
    assert app.config["INSTANCE"] == str(tmp_path / "from-env")
    assert app.instance_path == str(tmp_path / "from-env")
    assert app.config["DATABASE_URL"] == database_url
    assert app.config["PUBLIC_URL"] == "https://badges.example.org"
    assert app.config["SECRET_KEY"] == given["SECRET_KEY"]
    assert app.config["KEK"] == given["KEK"]
    assert app.config["TRUSTED_ISSUERS"] == ["did:web:a.example", "did:web:b.example"]
    assert not (tmp_path / "from-env" / "secrets.json").exists()


def test_test_configuration_overrides_environment_variables(monkeypatch, base):
    monkeypatch.setenv("TESSERA_PUBLIC_URL", "https://from-env.example")
    app = _create_app(base | _secrets() | {"PUBLIC_URL": "https://from-config.example"})
    assert app.config["PUBLIC_URL"] == "https://from-config.example"


def test_cli_reports_a_configuration_error_in_one_line(tmp_path):
    result = CliRunner().invoke(
        cli,
        ["org", "list"],
        env={
            "TESSERA_ENV": "production",
            "TESSERA_INSTANCE": str(tmp_path / "i"),
            "TESSERA_DATABASE_URL": f"sqlite:///{tmp_path}/t.db",
        },
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "TESSERA_KEK" in result.output
    assert "TESSERA_SECRET_KEY" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("Error: ")


@pytest.mark.parametrize("processes", [0, 65, "two", True, 1.5])
def test_a_signing_process_count_out_of_range_is_refused(base, processes):
    with pytest.raises(ConfigurationError, match="TESSERA_SIGNING_PROCESSES must be a number"):
        create_app(base | _secrets() | {"SIGNING_PROCESSES": processes})


def test_the_signing_process_count_is_read_from_the_environment(base, monkeypatch):
    monkeypatch.setenv("TESSERA_SIGNING_PROCESSES", "3")
    assert _create_app(base | _secrets()).config["SIGNING_PROCESSES"] == 3
    monkeypatch.setenv("TESSERA_SIGNING_PROCESSES", "lots")
    with pytest.raises(ConfigurationError, match="TESSERA_SIGNING_PROCESSES"):
        create_app(base | _secrets())
