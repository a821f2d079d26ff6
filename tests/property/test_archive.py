"""ZIP archives from strangers: their files or an ArchiveError; what is written reads back."""

from __future__ import annotations

import io
import zipfile

from hypothesis import given
from hypothesis import strategies as st

from credentials.archive import LOCAL_FILE_HEADER, ArchiveError, read_zip, write_zip

from .strategies import flipped, truncated

ARCHIVE = write_zip([("wallet.json", b'{"type": "ClrCredential"}'), ("a/b.jwt", b"x.y.z" * 50)])
STORED = io.BytesIO()
with zipfile.ZipFile(STORED, "w", zipfile.ZIP_STORED) as _archive:
    _archive.writestr("credential.json", b"{}" * 100)
names = st.text(max_size=20) | st.sampled_from(
    ["a", "a/", "../x", "/etc/x", "C:x", "a\\b", "a\x00b"]
)
small_limits = {"max_entries": 5, "max_entry_bytes": 4096, "max_total_bytes": 8192}


def entries_of(data: bytes) -> list[tuple[str, bytes]] | None:
    try:
        found = read_zip(data, **small_limits)
    except ArchiveError:
        return None
    assert len(found) <= small_limits["max_entries"]
    assert sum(len(e.data) for e in found) <= small_limits["max_total_bytes"]
    return [(e.name, e.data) for e in found]


@given(st.binary(max_size=400).map(lambda b: LOCAL_FILE_HEADER + b))
def test_any_bytes_after_a_zip_signature_give_files_or_a_declared_error(data: bytes) -> None:
    entries_of(data)


@given(
    flipped(ARCHIVE)
    | truncated(ARCHIVE)
    | flipped(STORED.getvalue())
    | truncated(STORED.getvalue())
)
def test_a_damaged_archive_gives_files_or_a_declared_error(data: bytes) -> None:
    entries_of(data)


@given(st.lists(st.tuples(names, st.binary(max_size=3000)), max_size=7))
def test_what_is_written_reads_back_the_same_or_is_refused(files: list[tuple[str, bytes]]) -> None:
    try:
        data = write_zip(files)
    except ArchiveError:
        return
    assert entries_of(data) in (files, None)  # None: over the small limits used there
    assert [(e.name, e.data) for e in read_zip(data)] == files


@given(st.lists(st.tuples(names, st.binary(max_size=100)), max_size=4))
def test_an_archive_written_by_anyone_gives_files_or_a_declared_error(
    files: list[tuple[str, bytes]],
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            try:
                # zipfile cuts a name at NUL (and fails on an empty one) when writing
                archive.writestr(name.partition("\x00")[0] or "x", data)
            except (ValueError, UserWarning):
                continue
    entries_of(buffer.getvalue())
