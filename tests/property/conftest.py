"""Hypothesis profiles for the property tests: deterministic and bounded unless asked otherwise.

``ci`` (the default) is what the test suite runs: derandomized, so a run is repeatable and a
failure reproduces on any machine, with no example database left behind and no per-example
deadline (a slow CI machine is not a failed property; time is never asserted). Set
``HYPOTHESIS_PROFILE=thorough`` to search far more examples when changing a parser.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=30,
    print_blob=False,
)
settings.register_profile(
    "thorough",
    derandomize=False,
    database=None,
    deadline=None,
    max_examples=2_000,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
