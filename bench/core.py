"""Issue and verify in-process, beside the raw signature rates measured in the same run.

Run: .venv/bin/python bench/core.py [--count N]
Prints a table; no assertions (figures, not tests). Uses a throw-away SQLite database.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet

from credentials import canonicalize
from issuer import migrate, services
from issuer.db import make_engine
from issuer.status import LocalStatusSource
from keys import load_kek
from keys.crypto import LocalSigner, generate_private_key
from verifier import verify_credential
from verifier.resolvers import instance_resolver
from verifier.status import StatusChain

PUBLIC_URL = "https://bench.tessera.test"


def rate(label: str, count: int, seconds: float, rows: list[tuple[str, str, str]]) -> None:
    rows.append((label, f"{count / seconds:,.0f}/s", f"{seconds / count * 1000:.2f} ms"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=200)
    count = parser.parse_args().count
    rows: list[tuple[str, str, str]] = []

    for algorithm in ("EdDSA", "RS256"):
        signer = LocalSigner("did:web:x#k", algorithm, generate_private_key(algorithm))
        started = time.perf_counter()
        for i in range(count * 5):
            signer.sign(b"%d" % i)
        rate(f"raw {algorithm} signature", count * 5, time.perf_counter() - started, rows)

    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        migrate.upgrade(engine)
        from sqlalchemy.orm import sessionmaker

        session = sessionmaker(engine, expire_on_commit=False)()
        kek = load_kek(Fernet.generate_key().decode())
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
        issued = []
        started = time.perf_counter()
        for i in range(count):
            issued.append(
                services.issue_credential(
                    session,
                    kek,
                    organisation=centre,
                    achievement=achievement,
                    name=f"L {i}",
                    email=f"l{i}@example.org",
                    public_url=PUBLIC_URL,
                    now=now,
                ).record
            )
        rate("issue (both proofs, status, row, audit)", count, time.perf_counter() - started, rows)

        document = json.loads(issued[0].document)
        started = time.perf_counter()
        for _ in range(count):
            canonicalize({k: v for k, v in document.items() if k != "proof"})
        rate("RDFC-1.0 canonicalisation (pyld)", count, time.perf_counter() - started, rows)

        status = StatusChain([LocalStatusSource(session, PUBLIC_URL)])
        for label, form in (("verify VC-JWT", "jwt"), ("verify Data Integrity", "document")):
            started = time.perf_counter()
            for record in issued:
                result = verify_credential(
                    getattr(record, form),
                    resolver=instance_resolver(session),
                    now=now,
                    status=status,
                    trusted_issuers={centre.did},
                )
                if not result.verified:
                    raise SystemExit(f"benchmark credential did not verify: {result.checks}")
            rate(label + " (full pipeline)", count, time.perf_counter() - started, rows)
        session.close()
        engine.dispose()

    width = max(len(r[0]) for r in rows)
    print(f"{'operation':<{width}}  {'rate':>10}  {'per item':>10}")
    for label, per_second, each in rows:
        print(f"{label:<{width}}  {per_second:>10}  {each:>10}")


if __name__ == "__main__":
    main()
