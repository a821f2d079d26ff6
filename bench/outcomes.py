"""Outcomes figures over many issued credentials, and job-task matching of one worker.

Run: .venv/bin/python bench/outcomes.py [--count N] [--centres C] [--months M] [--match-count K]
Prints figures; no assertions. Uses throw-away SQLite instances of the combined app.

Outcomes: C centres with real achievements and a pathway each (made through the services), then
N issued_credential rows written straight into the table (SQLAlchemy Core, 20,000 rows a batch,
one transaction) spread over the last M months, about 5 % of them revoked, plus one pathway award
per award-achievement credential and a day-by-day verification tally. These rows are only
counted, never verified: their document and JWT are short placeholders, so the table is far
narrower than a real one (a real credential carries a few kilobytes in each form), and anything
that has to read the rows themselves is faster here than on a real instance of the same size.
The insert is set-up and timed apart; then ``outcomes.figures`` for every centre and for one
centre (median of 3 runs each), and the CSV and JSON exports of the whole-instance figures.
At the defaults a run takes under 2 minutes on 2 cores, most of it inserting the million rows.

Matching: K credentials (at most 1,000, the API's limit) issued for real to one worker, across
achievements aligned to the skills of three of the five tasks of the catalogue's "Warehouse
operative"; a fourth achievement is offered for a gap. Timed inside the app: verifying all K
through the verifier backend, ``verifier.matching.match`` alone, and POST /api/v1/match with the
K credentials as JSON (which also counts each verification, one write per credential).
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from flask import Flask
from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from credentials.wallet import MAX_WALLET_CREDENTIALS
from issuer import migrate, outcomes, pathways, services
from issuer.app import create_app
from issuer.db import db
from issuer.models import (
    Achievement,
    IssuedCredential,
    Organisation,
    Pathway,
    PathwayAward,
    VerificationTally,
)
from issuer.unit_of_work import transaction
from verifier.backend import backend
from verifier.matching import Presented, catalogue, match

PUBLIC_URL = "https://bench.tessera.test"
PROFILE_ID = "catalogue:warehouse-operative"
BATCH = 20_000
REVOKED_SHARE = 0.05
AWARD_SHARE = 0.03  # of the credentials: pathway credentials, each with its award row
T = TypeVar("T")

#: The parts every centre awards, aligned to ESCO skills of the warehouse operative's tasks.
PARTS = (
    ("Operate a forklift truck", "28cb374e-6261-4133-8371-f9a5470145da"),
    ("Receive incoming goods", "2cae39d6-78c2-4ce3-bee8-628504371463"),
    ("Pick orders for dispatch", "ee5e2297-39cc-4ed6-89e5-d58016118a7f"),
    ("Load pallets and vehicles", "5f6c74c9-c49c-400d-bdd9-314e8bf348a1"),
)
#: (channel, verdict, largest daily count) of the tally rows written per day and achievement.
TALLIES = (
    ("page", "valid", 12),
    ("api", "valid", 6),
    ("match", "valid", 3),
    ("page", "revoked", 1),
)


def skill(code: str) -> str:
    return f"http://data.europa.eu/esco/skill/{code}"


def counted(totals: Any) -> str:
    return (
        f"{totals.issued:,} issued, {totals.revoked:,} revoked, "
        f"{totals.pathway_completions:,} completions, {totals.verifications:,} verifications"
    )


def timed(work: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def median_of(work: Callable[[], T], runs: int = 3) -> tuple[T, float]:
    """The last result, and the median time of ``runs`` runs."""
    times = []
    for _ in range(runs):
        result, seconds = timed(work)
        times.append(seconds)
    return result, statistics.median(times)


@contextmanager
def instance(**config: Any) -> Iterator[tuple[Flask, Session, Any]]:
    """A fresh, migrated instance of the combined app, inside its app context."""
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"INSTANCE": folder, "PUBLIC_URL": PUBLIC_URL, **config})
        with app.app_context():
            migrate.upgrade(app.extensions["tessera.engine"])
            yield app, db(), app.config["KEK_FERNET"]


# -- outcomes at scale ------------------------------------------------------------------------


def make_centres(
    session: Session, kek: Any, count: int, now: datetime
) -> list[tuple[Organisation, list[Achievement], Achievement, Pathway]]:
    """Centres, each with its part achievements, an award achievement and a pathway."""
    made = []
    for n in range(1, count + 1):
        centre = services.create_organisation(
            session,
            kek,
            slug=f"centre-{n}",
            name=f"Training Centre {n}",
            public_url=PUBLIC_URL,
            now=now,
        )
        parts = [
            services.create_achievement(
                session,
                organisation=centre,
                name=name,
                description=f"{name}, safely and to standard.",
                criteria="Observed at work by an assessor.",
                skills=[skill(code)],
                now=now,
            )
            for name, code in PARTS
        ]
        award = services.create_achievement(
            session,
            organisation=centre,
            name="Warehouse operative",
            description="Holds every part of the warehouse operative pathway.",
            criteria="Valid credentials for every part.",
            achievement_type="Certificate",
            now=now,
        )
        pathway = pathways.create_pathway(
            session,
            centre,
            award=award.public_id,
            parts=[p.public_id for p in parts],
            mode="automatic",
            now=now,
            actor="bench",
        )
        made.append((centre, parts, award, pathway))
    return made


def fill(
    session: Session,
    centres: list[tuple[Organisation, list[Achievement], Achievement, Pathway]],
    *,
    count: int,
    since: datetime,
    now: datetime,
) -> Counter[str]:
    """Write ``count`` credentials in issuing order, their pathway awards and daily tallies."""
    rng = random.Random(2026)  # noqa: S311 (made-up figures, not secrets)
    step = (now - since) / count
    next_id = (session.scalar(select(func.max(IssuedCredential.id))) or 0) + 1
    learners = max(count // 3, 1)
    written: Counter[str] = Counter()
    # (centre id, part achievement ids, award achievement id, pathway id); centre n has weight n.
    choices = [(c.id, [p.id for p in parts], a.id, w.id) for c, parts, a, w in centres]
    weights = list(itertools.accumulate(range(1, len(choices) + 1)))
    with transaction(session):
        # A bigger page cache for the bulk insert only (set back to SQLite's default below).
        session.execute(text("PRAGMA cache_size=-262144"))
        for first in range(0, count, BATCH):
            size = min(BATCH, count - first)
            credentials: list[dict[str, Any]] = []
            awards: list[dict[str, Any]] = []
            picked = rng.choices(choices, cum_weights=weights, k=size)
            for i, (centre, parts, award, pathway) in enumerate(picked, start=first):
                awarded = rng.random() < AWARD_SHARE
                issued_at = since + step * (i + rng.random())
                revoked = rng.random() < REVOKED_SHARE
                learner = rng.randrange(learners)
                key = next_id + i
                credential_id = uuid.UUID(int=rng.getrandbits(128), version=4)
                credentials.append(
                    {
                        "id": key,
                        "public_id": f"bench{i:017d}",
                        "credential_id": f"urn:uuid:{credential_id}",
                        "organisation_id": centre,
                        "achievement_id": award if awarded else rng.choice(parts),
                        "recipient_name": f"Learner {learner}",
                        "recipient_email": f"learner{learner}@example.org",
                        "identity_hash": f"sha256${rng.getrandbits(256):064x}",
                        "document": '{"bench": "placeholder"}',
                        "jwt": "bench.placeholder.jwt",
                        "valid_from": issued_at,
                        "valid_until": None,
                        "issued_at": issued_at,
                        "revoked_at": issued_at + (now - issued_at) * rng.random()
                        if revoked
                        else None,
                        "revocation_reason": "Issued in error" if revoked else None,
                    }
                )
                if awarded:
                    awards.append(
                        {"pathway_id": pathway, "credential_id": key, "created_at": issued_at}
                    )
                written["revoked"] += revoked
            session.execute(insert(IssuedCredential.__table__), credentials)
            written["credentials"] += len(credentials)
            if awards:
                session.execute(insert(PathwayAward.__table__), awards)
                written["awards"] += len(awards)
        tallies = []
        day = since.date()
        while day <= now.date():
            for centre, parts, award, _ in choices:
                for achievement in (*parts, award):
                    for channel, verdict, most in TALLIES:
                        if counted := rng.randint(0, most):
                            tallies.append(
                                {
                                    "day": day,
                                    "organisation_id": centre,
                                    "achievement_id": achievement,
                                    "channel": channel,
                                    "verdict": verdict,
                                    "count": counted,
                                }
                            )
            day += timedelta(days=1)
        for first in range(0, len(tallies), BATCH):
            session.execute(insert(VerificationTally.__table__), tallies[first : first + BATCH])
        written["tallies"] = len(tallies)
        session.execute(text("PRAGMA cache_size=-2000"))
    return written


def bench_outcomes(
    count: int, centre_count: int, months: int, rows: list[tuple[str, str, str]]
) -> None:
    now = datetime.now(UTC)
    last = date(now.year, now.month, 1)
    first = outcomes.add_months(last, 1 - months)
    since = datetime(first.year, first.month, 1, tzinfo=UTC)
    with instance() as (_app, session, kek):
        centres, seconds = timed(lambda: make_centres(session, kek, centre_count, now))
        print(f"set-up: {centre_count} centres with achievements and pathways in {seconds:.1f} s")
        written, seconds = timed(lambda: fill(session, centres, count=count, since=since, now=now))
        print(
            f"set-up: inserted {written['credentials']:,} credentials "
            f"({written['revoked']:,} revoked, {written['awards']:,} pathway awards) and "
            f"{written['tallies']:,} tally rows in {seconds:.1f} s "
            f"({written['credentials'] / seconds:,.0f} credentials/s)"
        )
        print(
            f"period: {outcomes.month_label(first)} to {outcomes.month_label(last)}; "
            "figures and exports are the median of 3 runs"
        )

        everyone, seconds = median_of(
            lambda: outcomes.figures(session, organisation=None, start=first, end=last)
        )
        totals = everyone.total.totals
        rows.append(
            (
                f"figures, all {centre_count} centres, {months} months",
                f"{seconds:.2f} s",
                counted(totals),
            )
        )
        busiest = centres[-1][0]
        found, seconds = median_of(
            lambda: outcomes.figures(session, organisation=busiest, start=first, end=last)
        )
        totals = found.total.totals
        rows.append(
            (
                f"figures, one centre ({busiest.slug}, the busiest)",
                f"{seconds:.2f} s",
                counted(totals),
            )
        )
        text, seconds = median_of(lambda: outcomes.to_csv(everyone))
        rows.append(
            (
                "to_csv, all centres",
                f"{seconds * 1000:.1f} ms",
                f"{text.count(chr(10)) - 1:,} rows, {len(text.encode()) / 1e3:,.0f} kB",
            )
        )
        document, seconds = median_of(lambda: outcomes.to_json(everyone, generated_at=now))
        size = len(json.dumps(document).encode())
        rows.append(("to_json, all centres", f"{seconds * 1000:.1f} ms", f"{size / 1e3:,.0f} kB"))


# -- job-task matching ------------------------------------------------------------------------


def bench_matching(count: int, rows: list[tuple[str, str, str]]) -> None:
    profile = next(p for p in catalogue() if p.id == PROFILE_ID)
    now = datetime.now(UTC)
    # Room for --match-count up to the API's 1,000 credentials (about 5 kB each as JSON).
    with instance(MAX_CONTENT_LENGTH=16 * 1024 * 1024) as (app, session, kek):
        centre = services.create_organisation(
            session, kek, slug="bench", name="Bench Centre", public_url=PUBLIC_URL, now=now
        )
        achievements = [
            services.create_achievement(
                session,
                organisation=centre,
                name=task.name,
                description=f"{task.name}, safely and to standard.",
                criteria="Observed at work by an assessor.",
                skills=[task.skills[0]],
                now=now,
            )
            for task in profile.tasks[:4]
        ]
        held = achievements[:3]  # the fourth is only offered, for the gap it fills

        def issue() -> list[dict[str, Any]]:
            return [
                json.loads(
                    services.issue_credential(
                        session,
                        kek,
                        organisation=centre,
                        achievement=held[i % len(held)],
                        name="Worker",
                        email="worker@example.org",
                        public_url=PUBLIC_URL,
                        now=now,
                    ).record.document
                )
                for i in range(count)
            ]

        documents, seconds = timed(issue)
        print(
            f"set-up: issued {count} credentials to one worker in {seconds:.1f} s "
            f"({len(held)} achievements, profile {PROFILE_ID!r}, {len(profile.tasks)} tasks)"
        )

        with app.test_request_context():
            host = backend()
            results, seconds = timed(lambda: [host.verify(d) for d in documents])
            verdicts = Counter(r.verdict.value for r in results)
            rows.append(
                (
                    f"verify {count} credentials (backend)",
                    f"{seconds:.2f} s",
                    f"{count / seconds:,.0f} credentials/s; "
                    + ", ".join(f"{v}={n}" for v, n in verdicts.items()),
                )
            )
            presented = [Presented(f"credential {n}", r) for n, r in enumerate(results, 1)]
            result, seconds = median_of(
                lambda: match(profile, presented, offerings_for=host.offerings)
            )
            offered = sum(len(t.offerings) for t in result.tasks)
            rows.append(
                (
                    f"match() alone, {count} credentials",
                    f"{seconds * 1000:.1f} ms",
                    f"{count / seconds:,.0f} credentials/s; {result.covered}/"
                    f"{len(result.tasks)} tasks covered, {offered} offering(s); median of 3",
                )
            )

        body = {"profile": PROFILE_ID, "credentials": documents}
        size = len(json.dumps(body).encode())
        client = app.test_client()
        response, seconds = timed(lambda: client.post("/api/v1/match", json=body))
        report = response.get_json()
        summary = report.get("summary", {}) if response.status_code == 200 else report
        tallied = session.scalar(
            select(func.coalesce(func.sum(VerificationTally.count), 0)).where(
                VerificationTally.channel == "match"
            )
        )
        rows.append(
            (
                f"POST /api/v1/match, {count} credentials",
                f"{seconds:.2f} s",
                f"{count / seconds:,.0f} credentials/s; HTTP {response.status_code}, "
                f"{size / 1e6:.2f} MB in, {summary.get('covered')}/{summary.get('tasks')} "
                f"tasks covered, {tallied} counted",
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1_000_000, help="issued credential rows")
    parser.add_argument("--centres", type=int, default=5)
    parser.add_argument("--months", type=int, default=24, help=f"at most {outcomes.MAX_MONTHS}")
    parser.add_argument(
        "--match-count", type=int, default=200, help=f"at most {MAX_WALLET_CREDENTIALS:,}"
    )
    options = parser.parse_args()
    if not 1 <= options.months <= outcomes.MAX_MONTHS:
        parser.error(f"--months must be 1 to {outcomes.MAX_MONTHS}")
    if not 1 <= options.match_count <= MAX_WALLET_CREDENTIALS:
        parser.error(f"--match-count must be 1 to {MAX_WALLET_CREDENTIALS:,} (the API's limit)")
    if options.count < 1 or options.centres < 1:
        parser.error("--count and --centres must be at least 1")

    rows: list[tuple[str, str, str]] = []
    bench_outcomes(options.count, options.centres, options.months, rows)
    bench_matching(options.match_count, rows)

    width = max(len(r[0]) for r in rows)
    print()
    print(f"{'operation':<{width}}  {'time':>9}  what")
    for label, seconds, what in rows:
        print(f"{label:<{width}}  {seconds:>9}  {what}")


if __name__ == "__main__":
    main()
