"""ZIP archives read and written safely: a wallet ZIP arrives from strangers.

Python's :mod:`zipfile` parses the format, but nothing here trusts what an archive says about
itself: entries are inflated in bounded chunks and counted as they come, so an archive that
lies about its sizes, or expands a few kilobytes into gigabytes (a "ZIP bomb"), is refused
after reading no more than the limits allow. Names are checked before anyone can use them
as paths. Only stored and deflated entries are read: zipfile inflates bzip2 and LZMA input
without an output bound, so those could exhaust memory inside a single read.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import MalformedCredentialError

#: The local file header signature every non-empty ZIP starts with.
LOCAL_FILE_HEADER = b"PK\x03\x04"
#: The end of central directory record an empty ZIP consists of.
EMPTY_ARCHIVE = b"PK\x05\x06"
#: Each central directory entry starts with this; zipfile checks it, so it bounds the entries.
CENTRAL_DIRECTORY_HEADER = b"PK\x01\x02"

_READ_CHUNK = 64 * 1024
_SUPPORTED_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
_ENCRYPTED_FLAG = 0x1
_DRIVE = re.compile(r"[A-Za-z]:")
_FILE_MODE = 0o100644  # a regular file, rw-r--r--
_UNIX = 3  # "version made by" host system, so external_attr holds Unix permissions


class ArchiveError(MalformedCredentialError):
    """The ZIP archive is malformed, unsafe, or larger than the limits allow."""

    code = "invalid-archive"


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    """One file from an archive: its name inside the archive and its contents."""

    name: str
    data: bytes


def is_zip(data: bytes) -> bool:
    """True if ``data`` starts with a ZIP local file header (cheap: decides the route only)."""
    return data.startswith(LOCAL_FILE_HEADER)


def _unsafe_name_reason(name: str) -> str | None:
    """Why ``name`` cannot stand for a file inside an archive, or None if it can."""
    if not name:
        return "has no name"
    if "\x00" in name:
        return "has a NUL character in its name"
    if "\\" in name:
        return "has a backslash in its name"
    if name.startswith("/") or _DRIVE.match(name):
        return "has an absolute path"
    if ".." in name.split("/"):
        return "has '..' in its path"
    return None


def _check_name(name: str) -> None:
    reason = _unsafe_name_reason(name)
    if reason is not None:
        raise ArchiveError(f"the archive entry {name!r} {reason}, which is not allowed")


def read_zip(
    data: bytes,
    *,
    max_entries: int = 2000,
    max_entry_bytes: int = 10 * 1024 * 1024,
    max_total_bytes: int = 64 * 1024 * 1024,
) -> list[ArchiveEntry]:
    """The files in a ZIP archive, in archive order; directory entries are skipped.

    .. warning::
        ``data`` is untrusted. The limits are enforced on the bytes actually inflated, in
        chunks, never on the sizes the headers declare, so memory stays bounded by them.

    Raises:
        ArchiveError: not a ZIP or damaged (including a bad CRC); more than ``max_entries``
            entries; an entry larger than ``max_entry_bytes`` or all together larger than
            ``max_total_bytes``; an encrypted entry or one compressed other than stored or
            deflated; a name that is absolute, has ``..`` components, a backslash or NUL, or
            appears twice.
    """
    if not (is_zip(data) or data.startswith(EMPTY_ARCHIVE)):
        raise ArchiveError("the file is not a ZIP archive")
    # zipfile builds an object per central directory entry before we see any; count them
    # first (an upper bound: a real entry cannot exist without its signature).
    if data.count(CENTRAL_DIRECTORY_HEADER) > max_entries:
        raise ArchiveError(f"the archive holds more than {max_entries:,} files")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as e:
        raise ArchiveError("the file is not a ZIP archive, or it is damaged") from e
    except NotImplementedError as e:  # e.g. an entry needing a later ZIP version to extract
        raise ArchiveError(
            f"the archive uses ZIP features this service cannot read ({e}); re-create it with "
            "standard settings"
        ) from e
    with archive:
        infos = archive.infolist()
        for info in infos:
            _check_readable(info, max_entry_bytes=max_entry_bytes)
        declared_total = sum(info.file_size for info in infos)
        if declared_total > max_total_bytes:
            raise ArchiveError(_total_too_large(max_total_bytes))
        entries: list[ArchiveEntry] = []
        seen: set[str] = set()
        total = 0
        for info in infos:
            if info.is_dir():
                continue
            if info.filename in seen:
                raise ArchiveError(f"the archive holds two files named {info.filename!r}")
            seen.add(info.filename)
            content = _read_entry(
                archive,
                info,
                max_entry_bytes=max_entry_bytes,
                budget=max_total_bytes - total,
                max_total_bytes=max_total_bytes,
            )
            total += len(content)
            entries.append(ArchiveEntry(info.filename, content))
    return entries


def _check_readable(info: zipfile.ZipInfo, *, max_entry_bytes: int) -> None:
    """Refuse, before inflating anything, an entry whose header already rules it out."""
    # zipfile cuts a name at its first NUL; orig_filename keeps what the archive holds.
    _check_name(info.orig_filename)
    _check_name(info.filename)
    if info.flag_bits & _ENCRYPTED_FLAG:
        raise ArchiveError(
            f"the archive entry {info.filename!r} is encrypted; encrypted archives are not accepted"
        )
    if info.compress_type not in _SUPPORTED_METHODS:
        raise ArchiveError(
            f"the archive entry {info.filename!r} uses a compression method this service "
            f"cannot read (method {info.compress_type}); re-create the ZIP with standard "
            "(deflate) compression"
        )
    if info.file_size > max_entry_bytes:
        raise ArchiveError(_entry_too_large(info.filename, max_entry_bytes))


def _read_entry(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    *,
    max_entry_bytes: int,
    budget: int,
    max_total_bytes: int,
) -> bytes:
    """Inflate one entry chunk by chunk, stopping as soon as a limit is passed.

    zipfile itself stops at the size the central directory declares (and then fails the CRC
    if more data follows), and the declared sizes were checked already; counting here keeps
    the limits ours, whatever the header says and however zipfile changes.
    """
    chunks: list[bytes] = []
    size = 0
    try:
        with archive.open(info) as stream:
            # Read to the end even within limits: zipfile checks the CRC only there.
            while chunk := stream.read(_READ_CHUNK):
                size += len(chunk)
                if size > max_entry_bytes:
                    raise ArchiveError(_entry_too_large(info.filename, max_entry_bytes))
                if size > budget:
                    raise ArchiveError(_total_too_large(max_total_bytes))
                chunks.append(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError) as e:
        raise ArchiveError(f"the archive entry {info.filename!r} is damaged: {e}") from e
    except NotImplementedError as e:  # refused above already; kept should zipfile differ
        raise ArchiveError(
            f"the archive entry {info.filename!r} uses a compression method this service "
            "cannot read"
        ) from e
    return b"".join(chunks)


def _entry_too_large(name: str, limit: int) -> str:
    return f"the archive entry {name!r} is larger than {limit:,} bytes once unpacked"


def _total_too_large(limit: int) -> str:
    return f"the archive's files add up to more than {limit:,} bytes once unpacked"


def write_zip(
    entries: Iterable[tuple[str, bytes]],
    *,
    date_time: tuple[int, int, int, int, int, int] = (2020, 1, 1, 0, 0, 0),
) -> bytes:
    """A deflated ZIP of ``(name, data)`` pairs, in the order given.

    Deterministic: every entry gets ``date_time`` and mode 0644 and nothing is taken from the
    host, so the same entries give the same bytes (with the same zlib).

    Raises:
        ArchiveError: a name is empty, absolute, has ``..`` components, a backslash or NUL,
            ends with ``/`` (a folder), or appears twice.
        ValueError: ``date_time`` is before 1980, which ZIP cannot store.
    """
    buffer = io.BytesIO()
    seen: set[str] = set()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries:
            _check_name(name)
            if name.endswith("/"):
                raise ArchiveError(f"the archive entry {name!r} is a folder name, not a file")
            if name in seen:
                raise ArchiveError(f"the archive would hold two files named {name!r}")
            seen.add(name)
            info = zipfile.ZipInfo(name, date_time=date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = _UNIX
            info.external_attr = _FILE_MODE << 16
            archive.writestr(info, content)
    return buffer.getvalue()
