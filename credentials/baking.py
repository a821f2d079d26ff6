"""Baked badges (OB 3.0 §5.3): read the credential carried inside a PNG or SVG image.

PNG: exactly one uncompressed ``iTXt`` chunk with keyword ``openbadgecredential``.
SVG: one ``<openbadges:credential>`` element (namespace ``https://purl.imsglobal.org/ob/v3p0``)
holding the credential as text (JSON, usually in CDATA) or a compact JWS in its ``verify``
attribute. Images are untrusted: sizes are bounded, CRCs checked, XML parsed without DTDs or
external entities.
"""

from __future__ import annotations

import struct
import zlib

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException

from .errors import MalformedCredentialError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_KEYWORD = b"openbadgecredential"
SVG_NAMESPACE = "https://purl.imsglobal.org/ob/v3p0"
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_CREDENTIAL_CHARS = 2 * 1024 * 1024


class BakingError(MalformedCredentialError):
    """The image carries no credential, more than one, or is malformed."""

    code = "invalid-baked-image"


def is_png(data: bytes) -> bool:
    return data.startswith(PNG_SIGNATURE)


def looks_like_svg(data: bytes) -> bool:
    head = data[:1024].lstrip().lower()
    return head.startswith((b"<?xml", b"<svg", b"<!--")) and b"<svg" in data[:4096].lower()


def unbake_png(data: bytes) -> str:
    """The credential text baked into a PNG.

    Raises:
        BakingError: not a PNG, a broken chunk, no or several credential chunks, a compressed
            one, or one larger than the credential limit.
    """
    if len(data) > MAX_IMAGE_BYTES:
        raise BakingError(f"the image is larger than {MAX_IMAGE_BYTES:,} bytes")
    if not is_png(data):
        raise BakingError("not a PNG image")
    found: list[bytes] = []
    offset = len(PNG_SIGNATURE)
    while offset < len(data):
        if offset + 12 > len(data):
            raise BakingError("the PNG ends in the middle of a chunk")
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        end = offset + 12 + length
        if length > len(data) or end > len(data):
            raise BakingError("a PNG chunk claims more bytes than the image has")
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(kind + body) != crc:
            raise BakingError(f"the PNG's {kind.decode('latin-1')!r} chunk is corrupt (bad CRC)")
        if kind == b"iTXt" and body.split(b"\x00", 1)[0] == PNG_KEYWORD:
            found.append(body)
        offset = end
        if kind == b"IEND":
            break
    if not found:
        raise BakingError("the PNG carries no Open Badges credential")
    if len(found) > 1:
        raise BakingError("the PNG carries more than one credential chunk")
    # iTXt: keyword NUL, compression flag, method, language NUL, translated keyword NUL, text
    rest = found[0][len(PNG_KEYWORD) + 1 :]
    if len(rest) < 2 or rest[0] != 0:
        raise BakingError("the credential chunk is compressed; OB 3.0 requires it uncompressed")
    try:
        _language, _translated, text = rest[2:].split(b"\x00", 2)
    except ValueError as e:
        raise BakingError("the credential chunk is malformed") from e
    if len(text) > MAX_CREDENTIAL_CHARS:
        raise BakingError("the baked credential is too large")
    try:
        return text.decode("utf-8").strip()
    except UnicodeDecodeError as e:
        raise BakingError("the baked credential is not UTF-8 text") from e


def unbake_svg(data: bytes) -> str:
    """The credential text baked into an SVG.

    Raises:
        BakingError: not well-formed XML, a DTD or entity (refused), no or several
            credential elements.
    """
    if len(data) > MAX_IMAGE_BYTES:
        raise BakingError(f"the image is larger than {MAX_IMAGE_BYTES:,} bytes")
    try:
        root = SafeElementTree.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as e:
        raise BakingError("the SVG uses a DTD or entities, which are refused") from e
    except SafeElementTree.ParseError as e:
        raise BakingError(f"the SVG is not well-formed XML: {e}") from e
    elements = root.findall(f".//{{{SVG_NAMESPACE}}}credential")
    if not elements:
        raise BakingError("the SVG carries no <openbadges:credential> element")
    if len(elements) > 1:
        raise BakingError("the SVG carries more than one credential element")
    element = elements[0]
    text = (element.get("verify") or element.text or "").strip()
    if not text:
        raise BakingError("the <openbadges:credential> element is empty")
    if len(text) > MAX_CREDENTIAL_CHARS:
        raise BakingError("the baked credential is too large")
    return text
