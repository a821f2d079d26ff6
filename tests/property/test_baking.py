"""Baked badges: any image gives its credential text or a BakingError; baking round-trips."""

from __future__ import annotations

import contextlib
import io
import json
import struct
import zlib

from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from credentials.baking import (
    PNG_KEYWORD,
    PNG_SIGNATURE,
    BakingError,
    bake_png,
    bake_svg,
    unbake_png,
    unbake_svg,
)
from tests.helpers import make_credential

from .strategies import any_text, flipped, json_objects, json_text, truncated

CREDENTIAL = json.dumps(make_credential())


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "teal").save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png()
BAKED_PNG = bake_png(PNG, CREDENTIAL)
SVG = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4"/></svg>'
)
BAKED_SVG = bake_svg(SVG, CREDENTIAL)


def chunk(kind: bytes, body: bytes, *, good_crc: bool = True) -> bytes:
    crc = zlib.crc32(kind + body) if good_crc else zlib.crc32(kind + body) ^ 1
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


chunks = st.builds(
    chunk,
    st.sampled_from([b"IHDR", b"IDAT", b"iTXt", b"tEXt", b"zTXt", b"IEND"])
    | st.binary(min_size=4, max_size=4),
    st.binary(max_size=64)
    | st.binary(max_size=64).map(lambda b: PNG_KEYWORD + b"\x00" + b)
    | any_text.map(lambda t: PNG_KEYWORD + b"\x00\x00\x00\x00\x00" + t.encode("utf-8", "replace")),
    good_crc=st.booleans(),
)
pngs = st.lists(chunks, max_size=6).map(lambda parts: PNG_SIGNATURE + b"".join(parts))


def unbaked(read: object, data: bytes) -> str | None:
    try:
        text = read(data)  # type: ignore[operator]
    except BakingError:
        return None
    assert isinstance(text, str)
    return text


@given(pngs | st.binary(max_size=300).map(lambda b: PNG_SIGNATURE + b))
def test_any_png_gives_its_credential_or_a_declared_error(data: bytes) -> None:
    unbaked(unbake_png, data)


@given(flipped(BAKED_PNG) | truncated(BAKED_PNG))
def test_a_damaged_baked_png_gives_a_declared_error_or_text(data: bytes) -> None:
    unbaked(unbake_png, data)


def _svg(text: str, attribute: str, tag: str) -> bytes:
    """An SVG with untrusted text in an attribute, an element and a credential element."""
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'xmlns:openbadges="https://purl.imsglobal.org/ob/v3p0" a="{attribute}">'
        f"<{tag}>{text}</{tag}><openbadges:credential>{text}</openbadges:credential></svg>"
    ).encode("utf-8", "replace")


xml_text = st.text(max_size=30)
svgs = st.one_of(
    st.binary(max_size=300),
    st.builds(
        _svg,
        xml_text,
        xml_text,
        st.sampled_from(["g", "script", "openbadges:credential", "foreignObject", "x:y"]),
    ),
)


@given(svgs)
def test_any_svg_gives_its_credential_or_a_declared_error(data: bytes) -> None:
    unbaked(unbake_svg, data)


#: Encodings an XML declaration may name: real ones, multi-byte ones expat cannot use,
#: codecs that are not text encodings, and names that are no encoding at all.
encodings = st.sampled_from(
    ["UTF-8", "utf-16", "utf-32", "latin-1", "cp037", "shift_jis", "utf-7", "idna", "rot13"]
) | st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ-_0123456789", min_size=1, max_size=10)


@given(encodings, st.text(max_size=20))
def test_an_svg_in_any_declared_encoding_gives_its_credential_or_a_declared_error(
    encoding: str, text: str
) -> None:
    svg = _svg(text, "", "g").replace(
        b"<svg", f'<?xml version="1.0" encoding="{encoding}"?><svg'.encode(), 1
    )
    unbaked(unbake_svg, svg)
    with contextlib.suppress(BakingError):
        bake_svg(svg, CREDENTIAL)


@given(flipped(BAKED_SVG) | truncated(BAKED_SVG))
def test_a_damaged_baked_svg_gives_a_declared_error_or_text(data: bytes) -> None:
    unbaked(unbake_svg, data)


credential_texts = any_text | json_objects().map(json_text)


@given(credential_texts)
def test_a_baked_png_gives_back_exactly_what_was_baked(text: str) -> None:
    try:
        baked = bake_png(PNG, text)
    except BakingError:
        return
    assert unbake_png(baked) == text.strip()


@given(credential_texts)
def test_a_baked_svg_gives_back_exactly_what_was_baked(text: str) -> None:
    try:
        baked = bake_svg(SVG, text)
    except BakingError:
        return
    assert unbake_svg(baked) == text.strip()


@given(svgs | flipped(SVG))
def test_baking_into_any_svg_gives_an_image_or_a_declared_error(svg: bytes) -> None:
    with contextlib.suppress(BakingError):
        bake_svg(svg, CREDENTIAL)


@given(pngs | flipped(PNG) | truncated(PNG))
def test_baking_into_any_png_gives_an_image_or_a_declared_error(png: bytes) -> None:
    with contextlib.suppress(BakingError):
        bake_png(png, CREDENTIAL)
