"""Wallet export and wallet verification for one worker holding many credentials.

Run: .venv/bin/python bench/wallet.py [--count N] [--zip-count M]
Prints figures; no assertions. Uses throw-away SQLite instances and the combined app (the ZIP's
printable pages are rendered from its templates). The CLR is measured with N credentials; the
ZIP (eight files per credential, a PDF among them) with M.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from issuer import migrate, services, wallet
from issuer.app import create_app
from issuer.db import db
from issuer.models import WalletSession
from verifier.backend import backend

PUBLIC_URL = "https://bench.tessera.test"
T = TypeVar("T")
HOLDER = WalletSession(email="worker@example.org", organisation_id=None)


@contextmanager
def worker_with(count: int) -> Iterator[tuple[Session, Any]]:
    """A fresh instance (in an app context) where one worker holds ``count`` credentials."""
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"INSTANCE": folder, "PUBLIC_URL": PUBLIC_URL})
        with app.app_context():
            migrate.upgrade(app.extensions["tessera.engine"])
            session, kek, now = db(), app.config["KEK_FERNET"], datetime.now(UTC)
            centre = services.create_organisation(
                session, kek, slug="bench", name="Bench Centre", public_url=PUBLIC_URL, now=now
            )
            achievement = services.create_achievement(
                session,
                organisation=centre,
                name="Stack pallets",
                description="Stacks pallets safely.",
                criteria="Observed at work.",
                skills=["http://data.europa.eu/esco/skill/28cb374e-6261-4133-8371-f9a5470145da"],
                now=now,
            )
            started = time.perf_counter()
            for i in range(count):
                services.issue_credential(
                    session,
                    kek,
                    organisation=centre,
                    achievement=achievement,
                    name="Worker",
                    email=HOLDER.email,
                    public_url=PUBLIC_URL,
                    now=now,
                    idempotency_key=f"bench-{i}",
                )
            print(f"issued {count} credentials in {time.perf_counter() - started:.1f} s")
            services.ensure_instance_keys(session, kek, public_url=PUBLIC_URL, now=now)
            yield session, kek


def timed(work: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--zip-count", type=int, default=50)
    options = parser.parse_args()
    now = datetime.now(UTC)

    with worker_with(options.count) as (session, kek):
        clr, seconds = timed(
            lambda: wallet.export_clr(session, kek, HOLDER, public_url=PUBLIC_URL, now=now),
        )
        size = len(json.dumps(clr).encode("utf-8"))
        print(f"CLR export, {options.count} credentials: {seconds:.2f} s ({size / 1e6:.1f} MB)")
        found, seconds = timed(lambda: backend().verify_wallet(clr))
        print(
            f"CLR verify, {options.count} credentials: {seconds:.2f} s "
            f"({options.count / seconds:,.0f} credentials/s; verified={found.verified})"
        )

    with worker_with(options.zip_count) as (session, kek):
        export, seconds = timed(
            lambda: wallet.export_zip(session, kek, HOLDER, public_url=PUBLIC_URL, now=now),
        )
        print(
            f"ZIP export, {options.zip_count} credentials: {seconds:.2f} s "
            f"({len(export.content) / 1e6:.1f} MB, "
            f"{seconds / options.zip_count * 1000:.0f} ms per credential)"
        )


if __name__ == "__main__":
    main()
