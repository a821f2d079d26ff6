"""Messages made in Python (check results, reasons, form errors) and how they are said.

They are English where they are made (the API, the CLI and the logs read them so); the pages
say them in the reader's language. These tests hold the parts: every error the verifier can
report has words for people, and English stays as it was.
"""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta

import pytest

from credentials import CredentialError
from verifier.messages import EXPLANATIONS, N_, Message, Nn_, explain, say, with_detail

#: Every module that defines errors the pipeline may report.
_ERROR_MODULES = (
    "credentials.errors",
    "credentials.archive",
    "credentials.baking",
    "credentials.kit",
    "credentials.portable",
    "credentials.status_list",
    "credentials.wallet",
    "verifier.http",
)
#: Raised only when offering a portable QR code (issuing), never by a verification.
_NEVER_IN_A_CHECK = {"not-portable"}


def _error_classes(root: type[CredentialError]) -> set[type[CredentialError]]:
    found = set()
    for sub in root.__subclasses__():
        found |= {sub, *_error_classes(sub)}
    return found


def test_every_error_the_verifier_can_report_is_explained_for_people():
    for name in _ERROR_MODULES:
        importlib.import_module(name)
    codes = {cls.code for cls in _error_classes(CredentialError)} - _NEVER_IN_A_CHECK
    assert len(codes) > 20
    assert codes <= EXPLANATIONS.keys(), f"explain {sorted(codes - EXPLANATIONS.keys())}"


def test_an_unknown_code_gets_a_plain_sentence_not_a_code():
    assert str(explain("something-new")) == "this check did not pass"
    assert str(explain("invalid-proof")).startswith("the signature does not match")


def test_in_english_values_read_as_the_api_has_always_given_them():
    moment = datetime(2026, 1, 16, 9, 30, tzinfo=UTC)
    assert str(Message.of(N_("expired on %(moment)s"), moment=moment)) == (
        "expired on 2026-01-16T09:30:00Z"
    )
    assert str(Message.of(N_("at most %(limit)s"), limit=50_000)) == "at most 50,000"
    age = Message.of(N_("%(age)s old"), age=timedelta(hours=5, minutes=10))
    assert str(age) == "5 hours old"
    nested = Message.of(N_("%(verdict)s: %(why)s"), verdict=Message("expired"), why="on time")
    assert str(nested) == "expired: on time"


@pytest.mark.parametrize(
    ("count", "expected"), [(1, "holds 1 credential"), (3, "holds 3 credentials")]
)
def test_a_plural_message_counts_in_english(count, expected):
    said = Message.counted(*Nn_("holds %(num)s credential", "holds %(num)s credentials"), count)
    assert str(said) == expected


def test_outside_a_request_a_message_is_said_in_english():
    said = Message.of(N_("line %(line)s: “%(text)s”"), line=3, text="weld")
    assert say(said) == str(said) == "line 3: “weld”"
    assert say(None) == "" and say("as is") == "as is"


def test_a_detail_is_added_in_brackets_only_when_there_is_one():
    said = explain("too-large")
    assert with_detail(said, None) is said
    assert str(with_detail(said, "2 MB at most")) == (
        "the input is too large to be a credential (2 MB at most)"
    )
