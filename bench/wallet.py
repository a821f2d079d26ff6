"""Wallet export and wallet verification for one worker holding many credentials.

Run: .venv/bin/python bench/wallet.py [--count N] [--zip-count M]
Prints figures; no assertions. Uses a throw-away SQLite database and the combined app (the ZIP's
printable pages are rendered from its templates). The CLR is measured with N credentials; the
ZIP (eight files per credential, a PDF among them) with M.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from issuer import migrate, services, wallet
from issuer.app import create_app
from issuer.db import db
from issuer.models import WalletSession
from verifier.backend import backend

PUBLIC_URL = "https://bench.tessera.test"
EMAIL = "worker@example.org"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--zip-count", type=int, default=50)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"INSTANCE": folder, "PUBLIC_URL": PUBLIC_URL})
        with app.app_context():
            migrate.upgrade(app.extensions["tessera.engine"])
            session = db()
            kek = app.config["KEK_FERNET"]
            now = datetime.now(UTC)
            centre = services.create_organisation(
                session, kek, slug="bench", name="Bench Centre", public_url=PUBLIC_URL, now=now
            )
            achievement = services.create_achievement(
                session,
                organisation=centre,
                name="Stack pallets",
                description="D",
                criteria="C",
                skills=["http://data.europa.eu/esco/skill/28cb374e-6261-4133-8371-f9a5470145da"],
                now=now,
            )
            started = time.perf_counter()
            for i in range(options.count):
                services.issue_credential(
                    session,
                    kek,
                    organisation=centre,
                    achievement=achievement,
                    name="Worker",
                    email=EMAIL,
                    public_url=PUBLIC_URL,
                    now=now,
                    idempotency_key=f"b-{i}",
                )
            print(f"issued {options.count} credentials in {time.perf_counter() - started:.1f} s")
            holder = WalletSession(email=EMAIL, organisation_id=None)
            services.ensure_instance_keys(session, kek, public_url=PUBLIC_URL, now=now)

            started = time.perf_counter()
            clr = wallet.export_clr(session, kek, holder, public_url=PUBLIC_URL, now=now)
            seconds = time.perf_counter() - started
            size = len(str(clr).encode())
            print(
                f"CLR export, {options.count} credentials: {seconds:.2f} s "
                f"({size / 1e6:.1f} MB, signed once over the whole wallet)"
            )

            started = time.perf_counter()
            found = backend().verify_wallet(clr)
            seconds = time.perf_counter() - started
            print(
                f"CLR verify, {options.count} credentials: {seconds:.2f} s "
                f"({options.count / seconds:,.0f} credentials/s; verified={found.verified})"
            )

        small = Path(folder) / "zip"
        small.mkdir()
        app = create_app({"INSTANCE": str(small), "PUBLIC_URL": PUBLIC_URL})
        with app.app_context():
            migrate.upgrade(app.extensions["tessera.engine"])
            session = db()
            kek = app.config["KEK_FERNET"]
            centre = services.create_organisation(
                session, kek, slug="bench", name="Bench Centre", public_url=PUBLIC_URL, now=now
            )
            achievement = services.create_achievement(
                session,
                organisation=centre,
                name="Stack pallets",
                description="D",
                criteria="C",
                skills=[],
                now=now,
            )
            for i in range(options.zip_count):
                services.issue_credential(
                    session,
                    kek,
                    organisation=centre,
                    achievement=achievement,
                    name="Worker",
                    email=EMAIL,
                    public_url=PUBLIC_URL,
                    now=now,
                    idempotency_key=f"z-{i}",
                )
            holder = WalletSession(email=EMAIL, organisation_id=None)
            started = time.perf_counter()
            export = wallet.export_zip(session, kek, holder, public_url=PUBLIC_URL, now=now)
            seconds = time.perf_counter() - started
            print(
                f"ZIP export, {options.zip_count} credentials: {seconds:.2f} s "
                f"({len(export.content) / 1e6:.1f} MB, "
                f"{seconds / options.zip_count * 1000:.0f} ms per credential)"
            )


if __name__ == "__main__":
    main()
