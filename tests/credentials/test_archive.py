"""Reading and writing ZIP archives safely: a wallet ZIP arrives from strangers."""

from __future__ import annotations

import io
import re
import struct
import time
import tracemalloc
import warnings
import zipfile

import pytest

from credentials import MalformedCredentialError
from credentials.archive import ArchiveEntry, ArchiveError, is_zip, read_zip, write_zip

ENTRIES = [
    ("README.txt", "محفظة أمينة حداد\n".encode()),
    ("01-mag-welding/credential.json", b'{"name": "MAG welding"}\n'),
    ("01-mag-welding/badge.png", bytes(range(256)) * 40),
    ("01-mag-welding/empty.txt", b""),
]

# Offsets inside the local file header and the central directory header (APPNOTE 4.3.7, 4.3.12).
LOCAL_FLAGS, CENTRAL_VERSION_NEEDED, CENTRAL_FLAGS, CENTRAL_FILE_SIZE = 6, 6, 8, 24


def _zip(*entries: tuple[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """An archive written by the standard library, which lets any name through."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns on duplicate names
        with zipfile.ZipFile(buffer, "w", compression) as archive:
            for name, data in entries:
                archive.writestr(name, data)
    return buffer.getvalue()


def _patch(data: bytes, signature: bytes, offset: int, fmt: str, value: int) -> bytes:
    """Overwrite a field of the first header with ``signature``."""
    at = data.index(signature) + offset
    patched = bytearray(data)
    patched[at : at + struct.calcsize(fmt)] = struct.pack(fmt, value)
    return bytes(patched)


@pytest.fixture(scope="module")
def zip_bomb() -> bytes:
    """200 MB of zeros deflated to about 200 KB, streamed so building it stays small."""
    buffer = io.BytesIO()
    megabyte = bytes(1024 * 1024)
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("zeros.bin", "w") as entry,
    ):
        for _ in range(200):
            entry.write(megabyte)
    return buffer.getvalue()


def _refused_quickly_in_little_memory(data: bytes, message: str) -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ArchiveError, match=message):
            read_zip(data)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 2.0
    assert peak < 24 * 1024 * 1024  # the entry limit (10 MiB) and change, not 200 MB


def test_write_then_read_gives_back_the_same_files_in_order():
    assert read_zip(write_zip(ENTRIES)) == [ArchiveEntry(name, data) for name, data in ENTRIES]


def test_write_zip_is_deterministic_with_fixed_dates_and_permissions():
    first = write_zip(ENTRIES)
    assert write_zip(iter(ENTRIES)) == first
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        for info in archive.infolist():
            assert info.date_time == (2020, 1, 1, 0, 0, 0)
            assert info.external_attr >> 16 == 0o100644
            assert info.compress_type == zipfile.ZIP_DEFLATED
    stamped = write_zip(ENTRIES, date_time=(2026, 1, 15, 9, 30, 0))
    with zipfile.ZipFile(io.BytesIO(stamped)) as archive:
        assert {info.date_time for info in archive.infolist()} == {(2026, 1, 15, 9, 30, 0)}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../../etc/passwd", r"has '\.\.' in its path"),
        ("wallet/../../x.json", r"has '\.\.' in its path"),
        ("/etc/passwd", "absolute path"),
        ("C:/Windows/x.json", "absolute path"),
        ("wallet\\x.json", "backslash"),
        ("wallet\x00.json", "NUL"),
        ("", "has no name"),
        ("wallet/", "folder name"),
    ],
    ids=["dotdot", "inner-dotdot", "absolute", "drive", "backslash", "nul", "empty", "folder"],
)
def test_write_zip_refuses_unsafe_names(name, message):
    with pytest.raises(ArchiveError, match=message):
        write_zip([("ok.txt", b"fine"), (name, b"x")])


def test_write_zip_refuses_duplicate_names():
    with pytest.raises(ArchiveError, match=re.escape("two files named 'a.json'")):
        write_zip([("a.json", b"1"), ("b.json", b"2"), ("a.json", b"3")])


def test_is_zip_recognises_the_local_file_header():
    assert is_zip(write_zip(ENTRIES))
    assert not is_zip(b'{"type": ["VerifiableCredential"]}')
    assert not is_zip(b"\x89PNG\r\n\x1a\n")


def test_directory_entries_are_skipped():
    data = _zip(("wallet/", b""), ("wallet/a.json", b"{}"))
    assert read_zip(data) == [ArchiveEntry("wallet/a.json", b"{}")]


def test_a_stored_archive_is_read_too():
    data = _zip(*ENTRIES, compression=zipfile.ZIP_STORED)
    assert [entry.data for entry in read_zip(data)] == [data for _, data in ENTRIES]


def test_a_zip_bomb_is_refused_quickly_with_bounded_memory(zip_bomb):
    assert len(zip_bomb) < 400_000
    _refused_quickly_in_little_memory(
        zip_bomb, "'zeros.bin' is larger than 10,485,760 bytes once unpacked"
    )


def test_a_zip_bomb_whose_header_claims_a_small_size_is_refused(zip_bomb):
    lying = _patch(zip_bomb, b"PK\x01\x02", CENTRAL_FILE_SIZE, "<I", 1_000_000)
    with zipfile.ZipFile(io.BytesIO(lying)) as archive:
        assert archive.getinfo("zeros.bin").file_size == 1_000_000  # the header now lies
    _refused_quickly_in_little_memory(lying, "'zeros.bin' is damaged")


def test_an_entry_expanding_beyond_its_declared_size_is_refused():
    data = _zip(("grows.json", b"{}" + b" " * 50_000))
    lying = _patch(data, b"PK\x01\x02", CENTRAL_FILE_SIZE, "<I", 1_000)
    with pytest.raises(ArchiveError, match=re.escape("'grows.json' is damaged")):
        read_zip(lying)


def test_entries_adding_up_beyond_the_total_limit_are_refused():
    data = write_zip([(f"{n}.json", b"x" * 400) for n in range(3)])
    with pytest.raises(ArchiveError, match="add up to more than 1,000 bytes"):
        read_zip(data, max_total_bytes=1_000)
    assert len(read_zip(data, max_total_bytes=1_200)) == 3


def test_an_entry_beyond_the_entry_limit_is_refused():
    data = write_zip([("small.json", b"x" * 10), ("big.json", b"x" * 1_001)])
    with pytest.raises(ArchiveError, match=re.escape("'big.json' is larger than 1,000 bytes")):
        read_zip(data, max_entry_bytes=1_000)


def test_too_many_entries_are_refused():
    data = write_zip((f"{n:04d}.json", b"{}") for n in range(2_001))
    with pytest.raises(ArchiveError, match="the archive holds more than 2,000 files"):
        read_zip(data)
    assert len(read_zip(write_zip((f"{n}.json", b"{}") for n in range(2_000)))) == 2_000


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../../home/amina/.bashrc", r"'\.\.' in its path"),
        ("/etc/cron.d/x", "absolute path"),
        ("C:\\Windows\\x.json", "backslash"),
        ("..\\x.json", "backslash"),
    ],
    ids=["dotdot", "absolute", "windows", "windows-dotdot"],
)
def test_entries_with_unsafe_names_are_refused(name, message):
    with pytest.raises(ArchiveError, match=message):
        read_zip(_zip(("fine.json", b"{}"), (name, b"{}")))


def test_an_entry_name_with_a_nul_is_refused_though_zipfile_would_hide_it():
    data = _zip(("wallet.json_evil.sh", b"{}")).replace(b"wallet.json_", b"wallet.json\x00")
    with pytest.raises(ArchiveError, match="NUL"):
        read_zip(data)


def test_duplicate_entries_are_refused():
    with pytest.raises(ArchiveError, match=re.escape("two files named 'wallet.json'")):
        read_zip(_zip(("wallet.json", b"{}"), ("wallet.json", b'{"evil": true}')))


def test_encrypted_entries_are_refused():
    data = _patch(_zip(("wallet.json", b"{}")), b"PK\x01\x02", CENTRAL_FLAGS, "<H", 0x1)
    data = _patch(data, b"PK\x03\x04", LOCAL_FLAGS, "<H", 0x1)
    with pytest.raises(ArchiveError, match=re.escape("'wallet.json' is encrypted")):
        read_zip(data)


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA], ids=["bzip2", "lzma"])
def test_compression_methods_without_bounded_inflation_are_refused(method):
    with pytest.raises(ArchiveError, match=r"compression method this service cannot read"):
        read_zip(_zip(("wallet.json", b"{}"), compression=method))


def test_an_archive_needing_a_later_zip_version_is_refused():
    data = _patch(write_zip(ENTRIES), b"PK\x01\x02", CENTRAL_VERSION_NEEDED, "<H", 99)
    with pytest.raises(ArchiveError, match="ZIP features this service cannot read"):
        read_zip(data)


@pytest.mark.parametrize(
    "data",
    [b"", b"hello", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, b'{"type": "ClrCredential"}'],
    ids=["empty", "text", "png", "json"],
)
def test_what_is_not_a_zip_is_refused(data):
    with pytest.raises(ArchiveError, match="the file is not a ZIP archive"):
        read_zip(data)


@pytest.mark.parametrize("keep", [0.5, 0.9], ids=["half", "most"])
def test_a_truncated_archive_is_refused(keep):
    data = write_zip(ENTRIES)
    with pytest.raises(ArchiveError, match="not a ZIP archive, or it is damaged"):
        read_zip(data[: int(len(data) * keep)])


def test_an_entry_with_a_bad_crc_is_refused():
    data = _zip(("wallet.json", b'{"name": "Amina Haddad"}'), compression=zipfile.ZIP_STORED)
    tampered = data.replace(b"Amina", b"Amino", 1)
    with pytest.raises(ArchiveError, match=re.escape("'wallet.json' is damaged: Bad CRC-32")):
        read_zip(tampered)


def test_an_empty_archive_holds_no_files():
    assert read_zip(write_zip([])) == []


def test_archive_errors_are_malformed_input_with_a_stable_code():
    with pytest.raises(MalformedCredentialError) as raised:
        read_zip(b"not a zip")
    assert raised.value.code == "invalid-archive"
