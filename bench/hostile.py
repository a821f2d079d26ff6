"""What hostile documents cost: Tessera's canonicalization against pyld's alone.

Run: .venv/bin/python bench/hostile.py [--levels 8] [--values 4000]
Prints figures; no assertions. Two kinds of document a stranger can send to the verify API:

- look-alike blank nodes: two identical results, each with N identical rubric levels. pyld's
  Hash N-Degree Quads tries every permutation (about ten times longer per level); Tessera's
  counts its work and refuses (credentials/rdfc.py).
- one property with many values (tags): pyld compares each new value with every earlier one;
  Tessera merges through indexes (credentials/nodemap.py). The verifier refuses credentials
  of more than 20,000 values before this point; the figures show the canonicalization alone.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pyld import jsonld

from credentials import (
    Achievement,
    CredentialError,
    IssuerProfile,
    Recipient,
    build_credential,
    canonicalize,
    frozen_document_loader,
)


def credential() -> dict[str, Any]:
    """An unsigned credential such as a centre issues."""
    return build_credential(
        credential_id="urn:uuid:0b5a1c3e-7f38-4a8e-9d0c-2f7e1a9b6c41",
        issuer=IssuerProfile(id="did:web:bench.tessera.test:orgs:north", name="North Centre"),
        achievement=Achievement(
            id="https://bench.tessera.test/orgs/north/achievements/1",
            name="Operate a forklift truck",
            description="Operates a forklift safely.",
            criteria_narrative="Observed at work.",
        ),
        recipient=Recipient(name="Amina Haddad", email="amina@example.org", salt="c0ffee"),
        valid_from=datetime(2026, 1, 15, 9, 30, tzinfo=UTC),
    )


def look_alike_results(levels: int) -> list[dict[str, Any]]:
    """Two identical results, each with ``levels`` identical rubric levels."""
    result = {
        "type": ["ResultDescription"],
        "name": "Result",
        "resultType": "RubricCriterionLevel",
        "rubricCriterionLevel": [
            {"type": ["RubricCriterionLevel"], "name": "Level"} for _ in range(levels)
        ],
    }
    return [result, dict(result)]


def pyld_alone(document: dict[str, Any]) -> str:
    """pyld's expansion and URDNA2015, nothing of Tessera's in the way."""
    options = {"algorithm": "URDNA2015", "format": "application/n-quads"}
    return str(jsonld.normalize(document, {**options, "documentLoader": frozen_document_loader}))


def timed(work: Callable[[], object]) -> tuple[str, float]:
    started = time.perf_counter()
    try:
        work()
        outcome = "canonicalized"
    except CredentialError as e:
        outcome = f"refused ({e.code})"
    return outcome, time.perf_counter() - started


def row(what: str, tessera: tuple[str, float], pyld: tuple[str, float] | None) -> None:
    theirs = f"{pyld[1]:8.2f} s" if pyld else "  (skipped)"
    print(f"{what:<44} | {tessera[1] * 1000:8.1f} ms {tessera[0]:<36} | {theirs}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--levels", type=int, default=8, help="largest rubric for pyld (9: 75 s)")
    parser.add_argument("--values", type=int, default=4000, help="most tags for pyld")
    options = parser.parse_args()

    print(f"{'document':<44} | {'Tessera':<48} | pyld alone")
    documents = []
    for levels in range(3, max(options.levels, 3) + 1):
        document = credential()
        document["credentialSubject"]["achievement"]["resultDescription"] = look_alike_results(
            levels
        )
        documents.append((f"2 results x {levels} identical rubric levels", document, True))
    for count in (1000, 2000, options.values, 20_000):
        document = credential()
        document["credentialSubject"]["achievement"]["tag"] = [f"tag {n}" for n in range(count)]
        documents.append((f"{count:,} values of one property", document, count <= options.values))
    for what, document, with_pyld in documents:
        row(
            what,
            timed(lambda document=document: canonicalize(document)),
            timed(lambda document=document: pyld_alone(document)) if with_pyld else None,
        )


if __name__ == "__main__":
    main()
