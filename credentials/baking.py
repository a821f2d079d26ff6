"""Baked badges (OB 3.0 §5.3): carry a credential inside a PNG or SVG image, and read it back.

https://www.imsglobal.org/spec/ob/v3p0/main/ ("Badge Baking")

PNG: exactly one uncompressed ``iTXt`` chunk with keyword ``openbadgecredential``.
SVG: one ``<openbadges:credential>`` element (namespace ``https://purl.imsglobal.org/ob/v3p0``)
holding the credential as text (JSON, usually in CDATA) or a compact JWS in its ``verify``
attribute. Images are untrusted: sizes are bounded, CRCs checked, XML parsed without DTDs or
external entities, and SVGs that carry scripts refused.
"""

from __future__ import annotations

import codecs
import json
import re
import struct
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from xml.parsers import expat

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException

from .errors import MalformedCredentialError

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_KEYWORD = b"openbadgecredential"
SVG_NAMESPACE = "https://purl.imsglobal.org/ob/v3p0"
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_CREDENTIAL_CHARS = 2 * 1024 * 1024

# The same test the verifier applies: header.payload.signature in base64url.
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# Characters XML 1.0 cannot carry (and NUL, which would also end a PNG text field).
_FORBIDDEN_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# A start tag of a well-formed document: its qualified name, attributes, and "/" if empty.
_START_TAG = re.compile(rb"""<([^\s/>]+)(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*(/?)>""")
_ENCODING_DECLARATION = re.compile(r"""^(<\?xml[^>]*?\sencoding\s*=\s*)(["'])[^"']*\2""")
_DECLARED_ENCODING = re.compile(
    rb"""^<\?xml[^>]*?\sencoding\s*=\s*(["'])([A-Za-z][A-Za-z0-9._-]*)\1"""
)
_SCRIPTS_REFUSED = "the SVG contains scripts, which are refused"


class BakingError(MalformedCredentialError):
    """The image carries no credential, more than one, or is malformed."""

    code = "invalid-baked-image"


def is_png(data: bytes) -> bool:
    """True if ``data`` starts with the PNG signature."""
    return data.startswith(PNG_SIGNATURE)


def looks_like_svg(data: bytes) -> bool:
    """True if ``data`` looks like SVG text (an XML prolog or ``<svg`` near the start)."""
    head = data[:1024].lstrip().lower()
    return head.startswith((b"<?xml", b"<svg", b"<!--")) and b"<svg" in data[:4096].lower()


# -- PNG ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Chunk:
    kind: bytes
    body: bytes
    start: int  # offset of the length field
    end: int  # offset just after the CRC


def _png_chunks(data: bytes) -> list[_Chunk]:
    """The chunks of a PNG up to and including IEND, each with its CRC checked.

    Raises:
        BakingError: too large, not a PNG, a truncated or oversized chunk, or a bad CRC.
    """
    if len(data) > MAX_IMAGE_BYTES:
        raise BakingError(f"the image is larger than {MAX_IMAGE_BYTES:,} bytes")
    if not is_png(data):
        raise BakingError("not a PNG image")
    chunks: list[_Chunk] = []
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
        chunks.append(_Chunk(kind, body, offset, end))
        offset = end
        if kind == b"IEND":
            break
    return chunks


def _is_credential_chunk(chunk: _Chunk) -> bool:
    return chunk.kind == b"iTXt" and chunk.body.split(b"\x00", 1)[0] == PNG_KEYWORD


def unbake_png(data: bytes) -> str:
    """The credential text baked into a PNG.

    Raises:
        BakingError: not a PNG, a broken chunk, no or several credential chunks, a compressed
            one, or one larger than the credential limit.
    """
    found = [chunk.body for chunk in _png_chunks(data) if _is_credential_chunk(chunk)]
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


def bake_png(image: bytes, credential: str) -> bytes:
    """``image`` with ``credential`` (JSON text or a compact JWT) baked into it.

    The credential goes into one uncompressed ``iTXt`` chunk with keyword
    ``openbadgecredential``, right after ``IHDR``; a credential already baked in is replaced.
    Every other byte of the image is kept as it was.

    Raises:
        BakingError: the image is not a valid PNG (signature, chunk structure, CRCs, size), or
            the credential is empty, too large, or neither JSON nor a compact JWT.
    """
    text = _credential_text(credential)
    chunks = _png_chunks(image)
    if not chunks or chunks[0].kind != b"IHDR":
        raise BakingError("the PNG does not start with an IHDR chunk")
    if chunks[-1].kind != b"IEND":
        raise BakingError("the PNG has no IEND chunk; the file looks truncated")
    # keyword NUL, compression flag 0 and method 0 (uncompressed, as OB 3.0 requires),
    # empty language tag NUL, empty translated keyword NUL, then the UTF-8 text.
    body = PNG_KEYWORD + b"\x00" + b"\x00\x00" + b"\x00" + b"\x00" + text.encode("utf-8")
    baked_chunk = struct.pack(">I", len(body)) + b"iTXt" + body
    baked_chunk += struct.pack(">I", zlib.crc32(b"iTXt" + body))
    parts = [image[: chunks[0].end], baked_chunk]
    position = chunks[0].end
    for chunk in chunks[1:]:
        if _is_credential_chunk(chunk):
            parts.append(image[position : chunk.start])
            position = chunk.end
    parts.append(image[position:])
    return _within_image_limit(b"".join(parts))


# -- SVG ------------------------------------------------------------------------------------


def _local_name(name: str) -> str:
    return name.rpartition("}")[2]


def _is_javascript_url(value: str) -> bool:
    # Browsers drop tabs and newlines anywhere in a URL and spaces and controls around it,
    # so "java&#9;script:" still runs; compare with all of them removed. The scheme may also
    # sit inside a list of values (SMIL ``values="a;javascript:..."``), hence ``in``.
    return "javascript:" in re.sub(r"[\x00-\x20]", "", value).lower()


def _refuse_scripts(root: Element) -> None:
    """Raise if the SVG could run script when opened: a hostile upload is refused outright.

    Refused: a ``script`` element in any namespace (SVG or XHTML inside ``foreignObject``),
    any ``on*`` event attribute (or a SMIL animation targeting one), and ``javascript:`` URLs
    in any attribute. Checked on the parsed tree, so character references cannot hide them.
    """
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if _local_name(element.tag).lower() == "script":
            raise BakingError(_SCRIPTS_REFUSED)
        for name, value in element.attrib.items():
            local = _local_name(name).lower()
            if local.startswith("on") or _is_javascript_url(value):
                raise BakingError(_SCRIPTS_REFUSED)
            if local == "attributename" and value.strip().lower().startswith("on"):
                raise BakingError(_SCRIPTS_REFUSED)


def _parse_svg(data: bytes) -> Element:
    """The root element of an untrusted SVG, parsed without DTDs or entities.

    Raises:
        BakingError: too large, a DTD or entity, not well-formed, or scripts.
    """
    if len(data) > MAX_IMAGE_BYTES:
        raise BakingError(f"the image is larger than {MAX_IMAGE_BYTES:,} bytes")
    try:
        root: Element = SafeElementTree.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as e:
        raise BakingError("the SVG uses a DTD or entities, which are refused") from e
    except SafeElementTree.ParseError as e:
        raise BakingError(f"the SVG is not well-formed XML: {e}") from e
    except (LookupError, ValueError) as e:
        # The XML declaration names the encoding, and expat asks Python's codecs for it:
        # an unknown name is a LookupError, a multi-byte or non-text codec a ValueError.
        raise BakingError(
            "the SVG declares a text encoding that cannot be read; save it as UTF-8"
        ) from e
    _refuse_scripts(root)
    return root


def unbake_svg(data: bytes) -> str:
    """The credential text baked into an SVG.

    Raises:
        BakingError: not well-formed XML, a DTD or entity (refused), scripts (refused), no or
            several credential elements.
    """
    root = _parse_svg(data)
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


@dataclass(slots=True)
class _SvgLayout:
    """Where things are in the SVG's bytes, as the baker needs them."""

    root_start: int = -1
    root_bindings: dict[str, str] = field(default_factory=dict)
    credential_spans: list[tuple[int, int]] = field(default_factory=list)


def _start_tag(data: bytes, start: int) -> re.Match[bytes]:
    tag = _START_TAG.match(data, start)
    if tag is None:  # the parser accepted the document, so this is our bug, not the image's
        raise BakingError("the SVG could not be baked: a start tag was not understood")
    return tag


def _svg_layout(data: bytes) -> _SvgLayout:
    """Byte offsets of the root start tag and of every outermost credential element.

    Call only on bytes :func:`_parse_svg` accepted (no DTD, so no entities to expand); expat
    reports the offsets ElementTree hides. A DOCTYPE is refused here again all the same.
    """
    layout = _SvgLayout()
    depth = 0
    credential: tuple[int, int] | None = None  # (start offset, depth) of the open element
    parser = expat.ParserCreate(namespace_separator=" ")

    def refuse_doctype(*_args: object) -> None:
        raise BakingError("the SVG uses a DTD or entities, which are refused")

    def start_namespace(prefix: str | None, uri: str) -> None:
        if depth == 0:  # declarations seen before the root's start event belong to the root
            layout.root_bindings[prefix or ""] = uri

    def start_element(name: str, _attributes: dict[str, str]) -> None:
        nonlocal depth, credential
        depth += 1
        if depth == 1:
            layout.root_start = parser.CurrentByteIndex
        if credential is None and name == f"{SVG_NAMESPACE} credential":
            credential = (parser.CurrentByteIndex, depth)

    def end_element(_name: str) -> None:
        nonlocal depth, credential
        if credential is not None and credential[1] == depth:
            start = credential[0]
            tag = _start_tag(data, start)
            # An empty element ends with its start tag. Otherwise expat points at "</" and,
            # as end tags hold no quotes, the next ">" ends the element.
            end = tag.end() if tag[2] else data.index(b">", parser.CurrentByteIndex) + 1
            layout.credential_spans.append((start, end))
            credential = None
        depth -= 1

    parser.StartDoctypeDeclHandler = refuse_doctype
    parser.EntityDeclHandler = refuse_doctype
    parser.StartNamespaceDeclHandler = start_namespace
    parser.StartElementHandler = start_element
    parser.EndElementHandler = end_element
    try:
        parser.Parse(data, True)
    except expat.ExpatError as e:
        raise BakingError(f"the SVG is not well-formed XML: {e}") from e
    return layout


def _as_utf8(svg: bytes) -> bytes:
    """The SVG encoded as UTF-8, which the baked credential's bytes are written in.

    A document in another encoding is transcoded and its XML declaration updated to match.
    """
    if svg.startswith(codecs.BOM_UTF8):
        return svg
    if svg.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif svg.startswith(b"\x00<"):
        encoding = "utf-16-be"
    elif svg.startswith(b"<\x00"):
        encoding = "utf-16-le"
    else:
        declared = _DECLARED_ENCODING.match(svg)
        if declared is None:
            return svg  # XML without a declaration is UTF-8
        encoding = declared[2].decode("ascii")
    try:
        codec = codecs.lookup(encoding).name
    except LookupError as e:
        raise BakingError(f"the SVG declares an unknown encoding, {encoding!r}") from e
    if codec == "utf-8":
        return svg
    try:
        text = svg.decode(codec)
    except (LookupError, ValueError) as e:  # not that encoding's text, or not a text codec
        raise BakingError(f"the SVG is not valid {encoding} text") from e
    return _ENCODING_DECLARATION.sub(r"\1\2UTF-8\2", text, count=1).encode("utf-8")


def _credential_element(text: str) -> bytes:
    """``<openbadges:credential>`` carrying ``text``: a JWT in ``verify``, JSON in CDATA."""
    if _COMPACT_JWS.fullmatch(text):
        return f'<openbadges:credential verify="{text}"/>'.encode()
    # "]]>" would end the CDATA section early, so it is split across two sections. A CR
    # would come back as LF (XML normalises line ends, in CDATA too), so it goes outside
    # as a character reference, which is exempt.
    content = text.replace("]]>", "]]]]><![CDATA[>").replace("\r", "]]>&#13;<![CDATA[")
    return f"<openbadges:credential><![CDATA[{content}]]></openbadges:credential>".encode()


def bake_svg(svg: bytes, credential: str) -> bytes:
    """``svg`` with ``credential`` (JSON text or a compact JWT) baked into it.

    One ``<openbadges:credential>`` element becomes the first child of the root ``<svg>``
    (a JWT in its ``verify`` attribute, JSON in CDATA) and the root declares the
    ``openbadges`` namespace; credential elements already present are removed. The rest of
    the document is kept as written, byte for byte when it is UTF-8 (other encodings are
    transcoded to UTF-8).

    Raises:
        BakingError: the SVG is too large, not well-formed, uses a DTD or entities, contains
            scripts, has a root other than ``<svg>``, or binds the ``openbadges`` prefix to
            another namespace; or the credential is empty, too large, or neither JSON nor a
            compact JWT.
    """
    text = _credential_text(credential)
    if len(svg) > MAX_IMAGE_BYTES:
        raise BakingError(f"the image is larger than {MAX_IMAGE_BYTES:,} bytes")
    data = _as_utf8(svg)
    root = _parse_svg(data)
    if not isinstance(root.tag, str) or _local_name(root.tag) != "svg":
        raise BakingError("the image's root element is not <svg>")
    layout = _svg_layout(data)
    root_tag = _start_tag(data, layout.root_start)
    qualified_name = root_tag[1]
    # (start, end, replacement) byte edits, applied in one pass over the original.
    edits: list[tuple[int, int, bytes]] = []
    bound = layout.root_bindings.get("openbadges")
    if bound is None:
        after_name = layout.root_start + 1 + len(qualified_name)
        edits.append((after_name, after_name, f' xmlns:openbadges="{SVG_NAMESPACE}"'.encode()))
    elif bound != SVG_NAMESPACE:
        raise BakingError(
            f"the SVG binds the prefix 'openbadges' to another namespace ({bound}), "
            "so the credential cannot be added"
        )
    element = _credential_element(text)
    if root_tag[2]:  # <svg .../> has no children yet: open it, add the element, close it
        edits.append(
            (root_tag.end() - 2, root_tag.end(), b">" + element + b"</" + qualified_name + b">")
        )
    else:
        edits.append((root_tag.end(), root_tag.end(), element))
    edits.extend((start, end, b"") for start, end in layout.credential_spans)
    edits.sort(key=lambda edit: (edit[0], edit[1]))
    parts: list[bytes] = []
    position = 0
    for start, end, replacement in edits:
        parts += (data[position:start], replacement)
        position = end
    parts.append(data[position:])
    baked = _within_image_limit(b"".join(parts))
    # The edits work on text, not on a tree; reading the result back proves they held.
    if unbake_svg(baked) != text:
        raise BakingError("the SVG could not be baked: the credential did not read back intact")
    return baked


# -- shared ---------------------------------------------------------------------------------


def _credential_text(credential: str) -> str:
    """The text to bake, checked: a compact JWT or a JSON object, within the size limit."""
    text = credential.strip()
    if not text:
        raise BakingError("there is no credential to bake: the text is empty")
    if _FORBIDDEN_CHARACTERS.search(text):
        raise BakingError("the credential contains control characters that cannot be baked")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as e:
        raise BakingError("the credential is not valid Unicode text") from e
    if size > MAX_CREDENTIAL_CHARS:
        raise BakingError(
            f"the credential is {size:,} bytes; at most {MAX_CREDENTIAL_CHARS:,} can be baked"
        )
    if _COMPACT_JWS.fullmatch(text):
        return text
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise BakingError("the credential is neither a JSON document nor a compact JWT") from e
    if not isinstance(document, dict):
        raise BakingError("the credential is neither a JSON document nor a compact JWT")
    return text


def _within_image_limit(baked: bytes) -> bytes:
    # A baked image larger than the limit could not be read back by unbake_png/unbake_svg.
    if len(baked) > MAX_IMAGE_BYTES:
        raise BakingError(
            f"the baked image would be larger than {MAX_IMAGE_BYTES:,} bytes, "
            "which is more than badges may be"
        )
    return baked
