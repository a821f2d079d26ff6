"""Job-task matching on its own: which tasks verified credentials cover, and why some do not.

No app and no database: results are built as the pipeline returns them, so each rule of
verifier.matching is checked by itself. The shipped catalogue is checked against the ESCO
skills list it draws on.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pytest

from verifier.match import parse_profile_text, skill_labels
from verifier.matching import (
    CATALOGUE_SOURCE,
    MAX_TASKS,
    JobProfile,
    Offering,
    Presented,
    ProfileError,
    Task,
    catalogue,
    match,
    profile_from_data,
    profile_to_data,
)
from verifier.pipeline import Check, Outcome, Verdict, VerificationResult

ROOT = Path(__file__).resolve().parents[2]
ESCO = "http://data.europa.eu/esco/skill/"
WELD = ESCO + "60ff3eac-7d4d-4e51-87b8-74c3b5d62498"  # perform metal active gas welding
FORKLIFT = ESCO + "28cb374e-6261-4133-8371-f9a5470145da"  # operate forklift
FIRST_AID = ESCO + "1d21f6ad-340f-45da-a0a3-4e83867f47a6"  # provide first aid
RIGGING_ID = "https://tessera.test/orgs/northside/achievements/rigging"

PROFILE = JobProfile(
    name="Fabrication yard hand",
    tasks=(
        Task("Weld steel", skills=(WELD,)),
        Task("Drive a forklift", skills=(FORKLIFT,)),
        Task("Rig loads", achievements=(RIGGING_ID,)),
    ),
    id="p1",
)


def credential(name, *, skills=(), achievement_id=None, issuer="Northside Skills Centre"):
    achievement = {
        "id": achievement_id or f"https://example.org/achievements/{name.replace(' ', '-')}",
        "name": name,
        "alignment": [{"targetUrl": s, "targetName": "a skill"} for s in skills],
    }
    return {
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {"id": "did:web:tessera.test:orgs:northside", "name": issuer},
        "credentialSubject": {"achievement": achievement},
    }


def result(verdict, document, failing=None):
    """A result as the pipeline gives it; ``failing`` is (check name, message) of the reason."""
    checks = [Check("format", Outcome.PASSED, "a JSON credential")]
    if failing is not None:
        outcome = Outcome.COULD_NOT_CHECK if verdict == Verdict.COULD_NOT_CHECK else Outcome.FAILED
        checks.append(Check(failing[0], outcome, failing[1]))
    return VerificationResult(verdict, tuple(checks), document, "json")


def presented(label, verdict, document, failing=None):
    return Presented(label, result(verdict, document, failing))


# -- coverage ---------------------------------------------------------------------------------


def test_a_valid_credential_aligned_to_a_tasks_skill_covers_it():
    found = match(
        PROFILE, [presented("weld.json", Verdict.VALID, credential("MAG", skills=[WELD]))]
    )
    weld, forklift, rigging = found.tasks
    assert weld.covered and [e.label for e in weld.covered_by] == ["weld.json"]
    assert weld.covered_by[0].achievement_name == "MAG"
    assert weld.covered_by[0].issuer_name == "Northside Skills Centre"
    assert weld.covered_by[0].reason is None
    assert not forklift.covered and not rigging.covered
    assert (found.covered, found.complete) == (1, False)


def test_a_valid_credential_for_a_named_achievement_covers_the_task():
    document = credential("Sling and rig loads", achievement_id=RIGGING_ID)
    found = match(PROFILE, [presented("rig.json", Verdict.VALID, document)])
    assert [t.covered for t in found.tasks] == [False, False, True]


def test_one_credential_may_cover_several_tasks_and_all_covered_is_complete():
    document = credential("Yard skills", skills=[WELD, FORKLIFT], achievement_id=RIGGING_ID)
    found = match(PROFILE, [presented("all.json", Verdict.VALID, document)])
    assert found.covered == 3 and found.complete


def test_a_credential_for_an_unrelated_skill_covers_nothing_and_is_listed_nowhere():
    document = credential("First aid", skills=[FIRST_AID])
    found = match(PROFILE, [presented("aid.json", Verdict.VALID, document)])
    assert found.covered == 0
    assert all(not t.covered_by and not t.not_counted for t in found.tasks)
    assert [p.label for p in found.presented] == ["aid.json"]  # still listed as presented


@pytest.mark.parametrize(
    ("verdict", "failing", "words"),
    [
        (Verdict.REVOKED, ("status", "revoked by its issuer"), "revoked by its issuer"),
        (Verdict.EXPIRED, ("dates", "expired on 2026-01-16T09:30:00+00:00"), "expired"),
        (Verdict.NOT_YET_VALID, ("dates", "not valid until 2027-01-01"), "not valid"),
        (
            Verdict.ISSUER_NOT_RECOGNISED,
            ("issuer", "did:key:z6Mk is not on this verifier's list of recognised issuers"),
            "its issuer is not one this verifier recognises",
        ),
        (
            Verdict.INVALID,
            ("proof", "Data Integrity proof: the signature does not match"),
            "failed",
        ),
        (Verdict.COULD_NOT_CHECK, ("status", "the status list could not be fetched"), "could not"),
    ],
)
def test_a_credential_that_is_not_valid_never_counts_and_says_why(verdict, failing, words):
    document = credential("MAG", skills=[WELD])
    found = match(PROFILE, [presented("weld.json", verdict, document, failing)])
    weld = found.tasks[0]
    assert not weld.covered and found.covered == 0
    (evidence,) = weld.not_counted
    assert evidence.verdict == verdict
    assert str(evidence.reason).startswith(words)
    assert failing[1] in str(evidence.reason)  # the deciding check's own words


def test_a_valid_credential_still_covers_when_another_for_the_same_task_is_revoked():
    revoked = credential("MAG (old)", skills=[WELD])
    valid = credential("MAG", skills=[WELD])
    found = match(
        PROFILE,
        [
            presented("old.json", Verdict.REVOKED, revoked, ("status", "revoked by its issuer")),
            presented("new.json", Verdict.VALID, valid),
        ],
    )
    weld = found.tasks[0]
    assert [e.label for e in weld.covered_by] == ["new.json"]
    assert [e.label for e in weld.not_counted] == ["old.json"]


def test_an_unreadable_credential_covers_nothing():
    unreadable = VerificationResult(
        Verdict.INVALID, (Check("format", Outcome.FAILED, "not JSON"),), None, None
    )
    found = match(PROFILE, [Presented("junk.txt", unreadable)])
    assert found.covered == 0 and all(not t.not_counted for t in found.tasks)


# -- gaps and offerings -----------------------------------------------------------------------


def test_gaps_get_offerings_and_covered_tasks_do_not():
    asked = []

    def offerings_for(task):
        asked.append(task.name)
        return [Offering("https://tessera.test/a/1", f"Course for {task.name}", "Northside")]

    document = credential("MAG", skills=[WELD])
    found = match(
        PROFILE,
        [presented("weld.json", Verdict.VALID, document)],
        offerings_for=offerings_for,
    )
    weld, forklift, rigging = found.tasks
    assert weld.offerings == ()
    assert [o.name for o in forklift.offerings] == ["Course for Drive a forklift"]
    assert [o.name for o in rigging.offerings] == ["Course for Rig loads"]
    assert asked == ["Drive a forklift", "Rig loads"]


def test_a_task_covered_only_by_a_revoked_credential_is_a_gap_with_offerings():
    document = credential("MAG", skills=[WELD])
    found = match(
        PROFILE,
        [presented("w.json", Verdict.REVOKED, document, ("status", "revoked by its issuer"))],
        offerings_for=lambda task: [Offering("urn:x", "Welding course", "Northside")],
    )
    assert [o.name for o in found.tasks[0].offerings] == ["Welding course"]


# -- profiles from data -----------------------------------------------------------------------


def test_profile_from_data_round_trips():
    data = {
        "name": "Welder",
        "description": "Welds.",
        "tasks": [{"name": "Weld", "skills": [WELD], "achievements": [RIGGING_ID]}],
    }
    profile = profile_from_data(data, id="x", source="Northside")
    assert profile.tasks == (Task("Weld", (WELD,), (RIGGING_ID,)),)
    assert (profile.id, profile.source) == ("x", "Northside")
    assert profile_from_data(profile_to_data(profile), id="x", source="Northside") == profile


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("Welder", "must be a JSON object"),
        ({"tasks": [{"name": "Weld", "skills": [WELD]}]}, "the profile's name is required"),
        ({"name": "Welder"}, "at least one task"),
        ({"name": "Welder", "tasks": []}, "at least one task"),
        ({"name": "Welder", "tasks": ["Weld"]}, "task 1 must be an object"),
        ({"name": "Welder", "tasks": [{"skills": [WELD]}]}, "task 1's name is required"),
        ({"name": "Welder", "tasks": [{"name": "Weld"}]}, "task 1 (Weld) needs at least one"),
        (
            {"name": "Welder", "tasks": [{"name": "Weld", "skills": ["welding"]}]},
            "task 1's skills must be an http(s) or urn: URI",
        ),
        (
            {"name": "Welder", "tasks": [{"name": "Weld", "skills": "http://x.org/s"}]},
            "task 1's skills must be a list",
        ),
        (
            {"name": "Welder", "occupation": "welder", "tasks": [{"name": "W", "skills": [WELD]}]},
            "the occupation must be",
        ),
        (
            {"name": "W", "tasks": [{"name": "T", "skills": [WELD]}] * (MAX_TASKS + 1)},
            f"at most {MAX_TASKS} tasks",
        ),
        (
            {"name": "W", "tasks": [{"name": "T", "skills": [f"{ESCO}{n}" for n in range(51)]}]},
            "more than 50",
        ),
    ],
)
def test_profile_from_data_names_what_is_wrong(data, message):
    with pytest.raises(ProfileError) as raised:
        profile_from_data(data)
    assert message in str(raised.value)


# -- a role described on the page -------------------------------------------------------------


def test_a_role_described_line_by_line():
    profile = parse_profile_text(
        f"# comments and blank lines are skipped\n\nWeld steel: {WELD}\n"
        f"Rig loads: {RIGGING_ID}   {FIRST_AID}\n",
        "Yard hand",
    )
    assert profile.name == "Yard hand" and profile.id is None
    weld, rig = profile.tasks
    assert weld == Task("Weld steel", (WELD,), ())
    # a non-ESCO address may be an achievement's id or another framework's skill
    assert rig.name == "Rig loads"
    assert set(rig.skills) == {RIGGING_ID, FIRST_AID} and rig.achievements == (RIGGING_ID,)


def test_a_task_name_may_hold_a_colon():
    (task,) = parse_profile_text(f"Safety: work at heights: {WELD}").tasks
    assert task.name == "Safety: work at heights"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "describe at least one task"),
        ("# only a comment", "describe at least one task"),
        (f"Weld: {WELD}\nDrive a forklift\n", "line 2: write the task's name, a colon"),
        (f"Weld {WELD}", "line 1: write the task's name, a colon"),
        (f"Weld: {WELD} welding", "line 1: “welding” is not an address"),
        (f"Weld: {WELD}\n" * (MAX_TASKS + 1), f"line {MAX_TASKS + 1}: a role has at most"),
    ],
)
def test_a_role_that_cannot_be_read_names_the_line(text, message):
    with pytest.raises(ProfileError) as raised:
        parse_profile_text(text)
    assert message in str(raised.value)


# -- the shipped catalogue --------------------------------------------------------------------


def _esco_skills() -> dict[str, str]:
    with gzip.open(ROOT / "issuer" / "data" / "esco_skills.tsv.gz", "rt", encoding="utf-8") as f:
        return {row["uri"]: row["label"] for row in csv.DictReader(f, delimiter="\t")}


def test_the_catalogue_has_entry_level_occupations_with_a_few_tasks_each():
    profiles = catalogue()
    assert 6 <= len(profiles) <= 8
    assert {p.id for p in profiles} >= {"catalogue:welder", "catalogue:warehouse-operative"}
    for profile in profiles:
        assert profile.source == CATALOGUE_SOURCE
        assert profile.description
        assert 3 <= len(profile.tasks) <= 6, profile.name
        assert profile.occupation is None  # no ESCO occupation URI we could verify


def test_every_catalogue_skill_is_an_esco_skill_with_its_label():
    esco = _esco_skills()
    used = {skill for profile in catalogue() for task in profile.tasks for skill in task.skills}
    assert used, "the catalogue names no skills"
    assert sorted(used - esco.keys()) == []
    assert skill_labels() == {uri: esco[uri] for uri in used}


def test_the_catalogue_file_is_valid_json_with_a_version_and_source():
    raw = (ROOT / "verifier" / "data" / "job_profiles.json").read_text("utf-8")
    document = json.load(io.StringIO(raw))
    assert document["version"] == 1
    assert "ESCO" in document["source"] and "European" in document["source"]
    keys = [p["key"] for p in document["profiles"]]
    assert len(keys) == len(set(keys))


def test_a_reason_says_each_thing_once():
    document = credential("MAG", skills=[WELD])
    revoked = presented("r", Verdict.REVOKED, document, ("status", "revoked by its issuer"))
    expired = presented("e", Verdict.EXPIRED, document, ("dates", "expired on 2026-01-16"))
    found = match(PROFILE, [revoked, expired])
    assert [str(e.reason) for e in found.tasks[0].not_counted] == [
        "revoked by its issuer",
        "expired on 2026-01-16",
    ]
