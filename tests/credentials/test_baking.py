"""Reading credentials baked into PNG and SVG badges, and refusing hostile images."""

from __future__ import annotations

import io
import json
import struct
import zlib

import pytest
from PIL import Image

from credentials.baking import PNG_KEYWORD, BakingError, unbake_png, unbake_svg
from verifier import Outcome, Verdict, verify_credential

from ..helpers import NOW, StaticResolver, make_signer, signed_json, signed_jwt


def _chunk(kind: bytes, body: bytes, *, crc: int | None = None) -> bytes:
    checksum = zlib.crc32(kind + body) if crc is None else crc
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", checksum)


def _itxt(text: str, *, compressed: bool = False) -> bytes:
    payload = zlib.compress(text.encode()) if compressed else text.encode()
    return _chunk(
        b"iTXt", PNG_KEYWORD + b"\x00" + bytes([int(compressed), 0]) + b"\x00\x00" + payload
    )


def bake_png(*extra_chunks: bytes) -> bytes:
    """A real 16x16 PNG with the given chunks inserted before IEND."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "teal").save(buffer, format="PNG")
    png = buffer.getvalue()
    iend = png.rindex(b"IEND") - 4
    return png[:iend] + b"".join(extra_chunks) + png[iend:]


def bake_svg(credential_text: str, *, as_attribute: bool = False) -> bytes:
    inner = (
        f'<openbadges:credential verify="{credential_text}"/>'
        if as_attribute
        else f"<openbadges:credential><![CDATA[{credential_text}]]></openbadges:credential>"
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<svg xmlns="http://www.w3.org/2000/svg" '
        'xmlns:openbadges="https://purl.imsglobal.org/ob/v3p0" width="16" height="16">'
        f'{inner}<circle cx="8" cy="8" r="8" fill="teal"/></svg>'
    ).encode()


@pytest.fixture(scope="module")
def signer():
    return make_signer()


def test_png_round_trip_for_both_forms(signer):
    token = signed_jwt(signer)
    document = json.dumps(signed_json(signer))
    assert unbake_png(bake_png(_itxt(token))) == token
    assert json.loads(unbake_png(bake_png(_itxt(document)))) == json.loads(document)
    Image.open(io.BytesIO(bake_png(_itxt(token)))).verify()  # still a valid image


@pytest.mark.parametrize("as_attribute", [False, True])
def test_svg_round_trip(signer, as_attribute):
    token = signed_jwt(signer)
    assert unbake_svg(bake_svg(token, as_attribute=as_attribute)) == token


@pytest.mark.parametrize(
    ("png", "message"),
    [
        (lambda: bake_png(), "no Open Badges credential"),
        (lambda: bake_png(_itxt("a.b.c"), _itxt("d.e.f")), "more than one"),
        (lambda: bake_png(_itxt("a.b.c", compressed=True)), "uncompressed"),
        (
            lambda: bake_png(_chunk(b"iTXt", PNG_KEYWORD + b"\x00\x00\x00\x00\x00x", crc=1)),
            "bad CRC",
        ),
        (lambda: bake_png()[:-6], "middle of a chunk"),
        (
            lambda: bake_png()[:40] + struct.pack(">I", 100_000_000) + b"iTXt" + b"x" * 20,
            "claims more bytes",
        ),
        (lambda: b"GIF89a" + b"\x00" * 20, "not a PNG"),
    ],
    ids=["none", "two", "compressed", "bad-crc", "truncated", "100MB-claim", "not-png"],
)
def test_hostile_pngs_are_refused(png, message):
    with pytest.raises(BakingError, match=message):
        unbake_png(png())


@pytest.mark.parametrize(
    ("svg", "message"),
    [
        (
            b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<svg xmlns="http://www.w3.org/2000/svg">&x;</svg>',
            "DTD or entities",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY l2 "&lol;&lol;">]>'
            b"<svg>&l2;</svg>",
            "DTD or entities",
        ),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><circle/></svg>', "no <openbadges:credential>"),
        (
            bake_svg("a.b.c").replace(
                b"<circle", b"<openbadges:credential>x</openbadges:credential><circle"
            ),
            "more than one",
        ),
        (b"<svg><unclosed></svg>", "not well-formed"),
    ],
    ids=["xxe", "billion-laughs", "no-credential", "two", "malformed"],
)
def test_hostile_svgs_are_refused(svg, message):
    with pytest.raises(BakingError, match=message):
        unbake_svg(svg)


def test_the_pipeline_verifies_baked_badges_and_says_so(signer):
    resolver = StaticResolver(signer)
    issuer = signer.verification_method.partition("#")[0]
    for image, label in (
        (bake_png(_itxt(signed_jwt(signer))), "PNG"),
        (bake_svg(json.dumps(signed_json(signer))), "SVG"),
    ):
        result = verify_credential(image, resolver=resolver, now=NOW, trusted_issuers={issuer})
        assert result.verdict == Verdict.VALID, result.checks
        assert f"baked into a {label} badge" in result.check("format").message


def test_a_tampered_baked_credential_is_invalid(signer):
    token = signed_jwt(signer)
    head, payload, signature = token.split(".")
    middle = len(signature) // 2  # a middle character changes whole bits, unlike the last one
    flipped = "A" if signature[middle] != "A" else "B"
    tampered = f"{head}.{payload}.{signature[:middle]}{flipped}{signature[middle + 1 :]}"
    result = verify_credential(bake_png(_itxt(tampered)), resolver=StaticResolver(signer), now=NOW)
    assert result.verdict == Verdict.INVALID
    assert result.check("proof").outcome == Outcome.FAILED


def test_an_image_without_a_credential_is_a_clear_format_failure():
    result = verify_credential(bake_png(), resolver=StaticResolver(), now=NOW)
    assert result.verdict == Verdict.INVALID
    assert "carries no Open Badges credential" in result.check("format").message
