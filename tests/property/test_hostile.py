"""Hostile shapes: compression bombs, inputs at and just over each size limit, deep nesting.

Each must end in the parser's declared error. Memory is measured with tracemalloc, so the
bound is deterministic: the peak Python allocates while refusing, compared with a stated
multiple of the limit that applies (never the size the bomb would expand to). Time is never
asserted; a parser that honours its memory bound cannot spend long getting there.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from typing import Any

import openpyxl
import pytest

from credentials import CredentialError
from credentials.archive import ArchiveError, read_zip, write_zip
from credentials.baking import (
    MAX_CREDENTIAL_CHARS,
    MAX_IMAGE_BYTES,
    PNG_KEYWORD,
    PNG_SIGNATURE,
    BakingError,
    unbake_png,
    unbake_svg,
)
from credentials.kit import MAX_KIT_BYTES, KitError, parse_kit_json
from credentials.portable import (
    MAX_EXPANDED_BYTES,
    MAX_PAYLOAD_LENGTH,
    PREFIX,
    PortablePayloadError,
    base45_encode,
    decode_portable,
    dictionary,
)
from credentials.proofs import jwt_vc
from credentials.status_list import MAX_DECODED_BYTES, StatusListError, decode_list
from issuer.bulk import (
    MAX_ROWS,
    MAX_UPLOAD_BYTES,
    MAX_XLSX_UNCOMPRESSED,
    SpreadsheetError,
    SpreadsheetTooLargeError,
    read_spreadsheet,
)
from tests.helpers import NOW, StaticResolver, make_signer, signed_json
from verifier.pipeline import Verdict, verify_credential

MiB = 1024 * 1024


def _peak(call: Callable[[], Any], expected: type[Exception], match: str) -> int:
    """Run ``call``, which must raise ``expected`` matching ``match``; the peak it allocated."""
    tracemalloc.start()
    try:
        with pytest.raises(expected, match=match):
            call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


def _deflated_zeros(size: int, wbits: int, zdict: bytes | None = None) -> bytes:
    """``size`` zero bytes compressed without ever holding them all (a bomb, built small)."""
    compressor = (
        zlib.compressobj(9, zlib.DEFLATED, wbits, zdict=zdict)
        if zdict
        else zlib.compressobj(9, zlib.DEFLATED, wbits)
    )
    block = bytes(MiB)
    parts = [compressor.compress(block[: min(MiB, size - done)]) for done in range(0, size, MiB)]
    return b"".join(parts) + compressor.flush()


def _encoded_list(gzipped: bytes) -> str:
    return "u" + base64.urlsafe_b64encode(gzipped).decode("ascii").rstrip("=")


_GZIP = 16 + zlib.MAX_WBITS


# -- status lists ---------------------------------------------------------------------------


def test_a_gzip_bomb_status_list_is_refused_within_three_times_the_decoded_limit() -> None:
    limit = MiB  # the default is 16 MiB; a smaller limit keeps the bomb quick to build
    bomb = _encoded_list(_deflated_zeros(16 * limit, _GZIP))
    assert len(bomb) < limit // 16  # sixteen times the limit, in a few kilobytes
    peak = _peak(
        lambda: decode_list(bomb, max_bytes=limit), StatusListError, "decompresses to more than"
    )
    assert peak < 3 * limit + 4 * len(bomb)  # inflating it all would take 16 times the limit


def test_the_default_decoded_limit_is_16_mib() -> None:
    assert 16 * MiB == MAX_DECODED_BYTES


def test_a_status_list_exactly_at_the_decoded_limit_is_read_and_one_byte_more_is_not() -> None:
    limit = 64 * 1024
    at_limit = _encoded_list(_deflated_zeros(limit, _GZIP))
    assert len(decode_list(at_limit, max_bytes=limit)) == limit
    with pytest.raises(StatusListError, match="decompresses to more than"):
        decode_list(_encoded_list(_deflated_zeros(limit + 1, _GZIP)), max_bytes=limit)


def test_an_encoded_list_longer_than_the_limit_is_refused_before_decoding() -> None:
    with pytest.raises(StatusListError):
        decode_list("u" + "A" * (64 * 1024), max_bytes=64 * 1024)


# -- portable QR payloads -------------------------------------------------------------------


def _portable(frame_or_bomb: bytes) -> str:
    return PREFIX + base45_encode(frame_or_bomb)


def test_a_deflate_bomb_in_a_portable_payload_is_refused_in_little_memory() -> None:
    bomb = _portable(_deflated_zeros(2 * MiB, -15, dictionary()))
    assert len(bomb) <= MAX_PAYLOAD_LENGTH  # it fits a QR code: only the bound stops it
    peak = _peak(lambda: decode_portable(bomb), PortablePayloadError, "expands beyond")
    assert peak < 16 * MAX_EXPANDED_BYTES


@pytest.mark.parametrize("size", [MAX_EXPANDED_BYTES, MAX_EXPANDED_BYTES + 1])
def test_a_portable_payload_expanding_to_the_limit_is_not_a_bomb_and_one_byte_more_is(
    size: int,
) -> None:
    payload = _portable(_deflated_zeros(size, -15, dictionary()))
    with pytest.raises(PortablePayloadError) as refused:
        decode_portable(payload)  # zeros are no JWT frame either way
    assert ("expands beyond" in str(refused.value)) is (size > MAX_EXPANDED_BYTES)


@pytest.mark.parametrize("length", [MAX_PAYLOAD_LENGTH, MAX_PAYLOAD_LENGTH + 1])
def test_a_portable_payload_longer_than_any_qr_code_is_refused_unread(length: int) -> None:
    payload = PREFIX + "0" * (length - len(PREFIX))
    with pytest.raises(PortablePayloadError) as refused:
        decode_portable(payload)
    assert ("a QR code holds" in str(refused.value)) is (length > MAX_PAYLOAD_LENGTH)


# -- baked images ---------------------------------------------------------------------------


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def test_a_compressed_credential_chunk_is_refused_without_inflating_it() -> None:
    bomb = _deflated_zeros(8 * MiB, zlib.MAX_WBITS)
    png = PNG_SIGNATURE + _chunk(b"iTXt", PNG_KEYWORD + b"\x00\x01\x00\x00\x00" + bomb)
    peak = _peak(lambda: unbake_png(png + _chunk(b"IEND", b"")), BakingError, "compressed")
    assert peak < 4 * len(png)


@pytest.mark.parametrize("extra", [0, 1])
def test_an_image_at_the_size_limit_is_read_and_one_byte_more_is_not(extra: int) -> None:
    # signature (8) + a tEXt chunk (12 + its body) + IEND (12) = the limit, plus ``extra``
    filler = _chunk(b"tEXt", b"c\x00" + bytes(MAX_IMAGE_BYTES - 8 - 12 - 12 - 2 + extra))
    png = PNG_SIGNATURE + filler + _chunk(b"IEND", b"")
    assert len(png) == MAX_IMAGE_BYTES + extra
    with pytest.raises(BakingError) as refused:
        unbake_png(png)
    assert ("larger than" in str(refused.value)) is bool(extra)


@pytest.mark.parametrize("extra", [0, 1])
def test_a_baked_credential_at_the_size_limit_is_read_and_one_byte_more_is_not(
    extra: int,
) -> None:
    text = b"{" + b" " * (MAX_CREDENTIAL_CHARS - 2 + extra) + b"}"
    png = PNG_SIGNATURE + _chunk(b"iTXt", PNG_KEYWORD + b"\x00" * 5 + text) + _chunk(b"IEND", b"")
    if extra:
        with pytest.raises(BakingError, match="too large"):
            unbake_png(png)
    else:
        assert unbake_png(png) == "{" + " " * (MAX_CREDENTIAL_CHARS - 2) + "}"


def test_an_svg_entity_bomb_is_refused_in_little_memory() -> None:
    laughs = "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    svg = (
        f'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY l0 "ha">{laughs}]>'
        '<svg xmlns="http://www.w3.org/2000/svg">&l9;</svg>'
    ).encode()
    peak = _peak(lambda: unbake_svg(svg), BakingError, "DTD or entities")
    assert peak < MiB


def test_a_deeply_nested_svg_is_a_declared_error() -> None:
    depth = 10_000  # ten times the recursion limit
    svg = b'<svg xmlns="http://www.w3.org/2000/svg">' + b"<g>" * depth + b"</g>" * depth + b"</svg>"
    with pytest.raises(BakingError, match="no <openbadges:credential>"):
        unbake_svg(svg)


# -- ZIP archives ---------------------------------------------------------------------------


def _zip_of_zeros(size: int) -> bytes:
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("zeros.json", "w") as entry,
    ):
        block = bytes(MiB)
        for done in range(0, size, MiB):
            entry.write(block[: min(MiB, size - done)])
    return buffer.getvalue()


def test_a_zip_bomb_is_refused_within_a_few_times_the_entry_limit() -> None:
    bomb = _zip_of_zeros(8 * MiB)
    limit = MiB
    peak = _peak(
        lambda: read_zip(bomb, max_entry_bytes=limit), ArchiveError, "larger than 1,048,576"
    )
    assert peak < 4 * limit + 4 * len(bomb)


def test_a_zip_entry_that_lies_about_its_size_is_refused_within_its_declared_size() -> None:
    bomb = bytearray(_zip_of_zeros(16 * MiB))
    central = bomb.index(b"PK\x01\x02")
    bomb[central + 24 : central + 28] = struct.pack("<I", 1000)  # uncompressed size: 1000
    peak = _peak(lambda: read_zip(bytes(bomb)), ArchiveError, "damaged")
    assert peak < MiB + 4 * len(bomb)


@pytest.mark.parametrize("extra", [0, 1])
def test_a_zip_entry_at_the_limit_is_read_and_one_byte_more_is_not(extra: int) -> None:
    limit = 64 * 1024
    archive = write_zip([("a.json", bytes(limit + extra))])
    if extra:
        with pytest.raises(ArchiveError, match="larger than"):
            read_zip(archive, max_entry_bytes=limit)
    else:
        assert len(read_zip(archive, max_entry_bytes=limit)[0].data) == limit


@pytest.mark.parametrize("extra", [0, 1])
def test_an_archive_at_the_entry_count_limit_is_read_and_one_more_is_not(extra: int) -> None:
    archive = write_zip([(f"{i}.json", b"{}") for i in range(20 + extra)])
    if extra:
        with pytest.raises(ArchiveError, match="more than 20 files"):
            read_zip(archive, max_entries=20)
    else:
        assert len(read_zip(archive, max_entries=20)) == 20


# -- the pipeline, JWTs and kits ------------------------------------------------------------

SIGNER = make_signer()


@pytest.mark.parametrize("extra", [0, 1])
def test_a_credential_at_the_pipeline_size_limit_is_read_and_one_byte_more_is_not(
    extra: int,
) -> None:
    text = json.dumps(signed_json(SIGNER))
    limit = 64 * 1024
    padded = text + " " * (limit - len(text) + extra)
    result = verify_credential(padded, resolver=StaticResolver(SIGNER), now=NOW, max_bytes=limit)
    assert (result.checks[0].code == "too-large") is bool(extra)
    assert (result.verdict == Verdict.INVALID) is bool(extra)


@pytest.mark.parametrize("extra", [0, 1])
def test_a_jwt_at_the_length_limit_is_policed_and_one_character_more_is_refused(
    extra: int,
) -> None:
    token = "e30." + "A" * (jwt_vc.MAX_TOKEN_LENGTH - 5 + extra) + "."
    with pytest.raises(CredentialError) as refused:
        jwt_vc.read_unverified_header(token)
    assert ("too long" in str(refused.value)) is bool(extra)


@pytest.mark.parametrize("depth", [65, 10_000, 200_000])
def test_a_deeply_nested_jwt_header_is_a_declared_error(depth: int) -> None:
    deep = b'{"alg": ' + b"[" * depth + b"]" * depth + b"}"
    header = base64.urlsafe_b64encode(deep).decode().rstrip("=")
    with pytest.raises(jwt_vc.MalformedCredentialError, match="nested deeper"):
        jwt_vc.read_unverified_header(header + ".e30.")


def test_a_kit_over_the_size_limit_is_refused_before_parsing() -> None:
    with pytest.raises(KitError, match="larger than"):
        parse_kit_json(b" " * (MAX_KIT_BYTES + 1))


@pytest.mark.parametrize("depth", [65, 100_000])
def test_a_deeply_nested_kit_is_a_declared_error(depth: int) -> None:
    kit = json.dumps({"type": "TesseraVerifierKit", "version": 1, "x": None})
    with pytest.raises(KitError, match=r"not a JSON|sensible depth"):
        parse_kit_json(kit.replace("null", "[" * depth + "]" * depth))


# -- bulk-issue spreadsheets ----------------------------------------------------------------


@pytest.mark.parametrize("extra", [0, 1])
def test_a_csv_at_the_upload_limit_is_read_and_one_byte_more_is_not(extra: int) -> None:
    # Learners with a long note each (a field stays under csv's limit of 131,072).
    row = b"\nLearner,learner@example.org," + b"n" * 60_000
    head = b"name,email,notes"
    count = (MAX_UPLOAD_BYTES - len(head)) // len(row)
    data = head + row * count
    data += b"n" * (MAX_UPLOAD_BYTES - len(data) + extra)
    assert len(data) == MAX_UPLOAD_BYTES + extra
    if extra:
        with pytest.raises(SpreadsheetTooLargeError):
            read_spreadsheet(data, "learners.csv")
    else:
        assert len(read_spreadsheet(data, "learners.csv").rows) == count


@pytest.mark.parametrize("extra", [0, 1])
def test_a_csv_at_the_row_limit_is_read_and_one_learner_more_is_not(extra: int) -> None:
    lines = ["name,email"] + [f"L{i},l{i}@example.org" for i in range(MAX_ROWS + extra)]
    data = "\n".join(lines).encode()
    if extra:
        with pytest.raises(SpreadsheetTooLargeError, match="more than 20,000 learners"):
            read_spreadsheet(data, "learners.csv")
    else:
        assert len(read_spreadsheet(data, "learners.csv").rows) == MAX_ROWS


def _workbook_with(name: str, content_size: int) -> bytes:
    workbook = openpyxl.Workbook()
    workbook.active.append(["Name", "Email"])  # type: ignore[union-attr]
    buffer = io.BytesIO()
    workbook.save(buffer)
    with (
        zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open(name, "w") as part,
    ):
        block = bytes(MiB)
        for done in range(0, content_size, MiB):
            part.write(block[: min(MiB, content_size - done)])
    return buffer.getvalue()


def test_a_workbook_zip_bomb_is_refused_before_any_xml_is_parsed() -> None:
    bomb = _workbook_with("xl/media/zeros.bin", MAX_XLSX_UNCOMPRESSED + 1)
    assert len(bomb) < MAX_UPLOAD_BYTES
    peak = _peak(
        lambda: read_spreadsheet(bomb, "learners.xlsx"), SpreadsheetTooLargeError, "zip bomb"
    )
    assert peak < 4 * len(bomb) + MiB


def test_a_workbook_part_that_lies_about_its_size_is_a_declared_error() -> None:
    workbook = bytearray(_workbook_with("xl/media/zeros.bin", 0))
    # The central directory entry of the worksheet: its name sits 46 bytes into the header.
    header = workbook.rindex(b"xl/worksheets/sheet1.xml") - 46
    assert workbook[header : header + 4] == b"PK\x01\x02"
    workbook[header + 24 : header + 28] = struct.pack("<I", 10)  # "10 bytes uncompressed"
    with pytest.raises(SpreadsheetError, match="cannot be read"):
        read_spreadsheet(bytes(workbook), "learners.xlsx")
