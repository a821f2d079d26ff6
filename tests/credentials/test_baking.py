"""Baking credentials into PNG and SVG badges, reading them back, and refusing hostile images."""

from __future__ import annotations

import io
import json
import struct
import zlib

import defusedxml.ElementTree as SafeElementTree
import pytest
from PIL import Image

from credentials.baking import (
    MAX_CREDENTIAL_CHARS,
    PNG_KEYWORD,
    PNG_SIGNATURE,
    SVG_NAMESPACE,
    BakingError,
    bake_png,
    bake_svg,
    unbake_png,
    unbake_svg,
)
from verifier import Outcome, Verdict, verify_credential

from ..helpers import NOW, StaticResolver, make_credential, make_signer, signed_json, signed_jwt


def _chunk(kind: bytes, body: bytes, *, crc: int | None = None) -> bytes:
    checksum = zlib.crc32(kind + body) if crc is None else crc
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", checksum)


def _itxt(text: str, *, compressed: bool = False) -> bytes:
    payload = zlib.compress(text.encode()) if compressed else text.encode()
    return _chunk(
        b"iTXt", PNG_KEYWORD + b"\x00" + bytes([int(compressed), 0]) + b"\x00\x00" + payload
    )


def _png_with(*extra_chunks: bytes) -> bytes:
    """A real 16x16 PNG with the given chunks inserted before IEND."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "teal").save(buffer, format="PNG")
    png = buffer.getvalue()
    iend = png.rindex(b"IEND") - 4
    return png[:iend] + b"".join(extra_chunks) + png[iend:]


def _svg_with(credential_text: str, *, as_attribute: bool = False) -> bytes:
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
    assert unbake_png(_png_with(_itxt(token))) == token
    assert json.loads(unbake_png(_png_with(_itxt(document)))) == json.loads(document)
    Image.open(io.BytesIO(_png_with(_itxt(token)))).verify()  # still a valid image


@pytest.mark.parametrize("as_attribute", [False, True])
def test_svg_round_trip(signer, as_attribute):
    token = signed_jwt(signer)
    assert unbake_svg(_svg_with(token, as_attribute=as_attribute)) == token


@pytest.mark.parametrize(
    ("png", "message"),
    [
        (lambda: _png_with(), "no Open Badges credential"),
        (lambda: _png_with(_itxt("a.b.c"), _itxt("d.e.f")), "more than one"),
        (lambda: _png_with(_itxt("a.b.c", compressed=True)), "uncompressed"),
        (
            lambda: _png_with(_chunk(b"iTXt", PNG_KEYWORD + b"\x00\x00\x00\x00\x00x", crc=1)),
            "bad CRC",
        ),
        (lambda: _png_with()[:-6], "middle of a chunk"),
        (
            lambda: _png_with()[:40] + struct.pack(">I", 100_000_000) + b"iTXt" + b"x" * 20,
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
            _svg_with("a.b.c").replace(
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
    for image, said in (
        (_png_with(_itxt(signed_jwt(signer))), "baked into a PNG badge"),
        (_svg_with(json.dumps(signed_json(signer))), "baked into an SVG badge"),
    ):
        result = verify_credential(image, resolver=resolver, now=NOW, trusted_issuers={issuer})
        assert result.verdict == Verdict.VALID, result.checks
        assert said in result.check("format").message


def test_a_tampered_baked_credential_is_invalid(signer):
    token = signed_jwt(signer)
    head, payload, signature = token.split(".")
    middle = len(signature) // 2  # a middle character changes whole bits, unlike the last one
    flipped = "A" if signature[middle] != "A" else "B"
    tampered = f"{head}.{payload}.{signature[:middle]}{flipped}{signature[middle + 1 :]}"
    result = verify_credential(_png_with(_itxt(tampered)), resolver=StaticResolver(signer), now=NOW)
    assert result.verdict == Verdict.INVALID
    assert result.check("proof").outcome == Outcome.FAILED


def test_an_image_without_a_credential_is_a_clear_format_failure():
    result = verify_credential(_png_with(), resolver=StaticResolver(), now=NOW)
    assert result.verdict == Verdict.INVALID
    assert "carries no Open Badges credential" in result.check("format").message


# -- baking (the write side) ------------------------------------------------------------------

CREDENTIAL_ELEMENT = f"{{{SVG_NAMESPACE}}}credential"
SVG_BADGE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<!-- Northside Skills Centre: MAG welding -->\n"
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16" aria-label="a &gt; b">\n'
    b'  <circle cx="8" cy="8" r="8" fill="teal"/>\n'
    b"</svg>\n"
)
TOKEN = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJkaWQ6ZXhhbXBsZToxIn0.c2lnbmF0dXJl"


def _pillow_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "teal").save(buffer, format="PNG")
    return buffer.getvalue()


def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(kind, body) of every chunk, read independently of the code under test."""
    chunks, offset = [], 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        chunks.append((png[offset + 4 : offset + 8], png[offset + 8 : offset + 8 + length]))
        offset += 12 + length
    return chunks


def _credential_chunks(png: bytes) -> list[bytes]:
    return [body for kind, body in _chunks(png) if body.startswith(PNG_KEYWORD + b"\x00")]


def _hostile_text_credential() -> str:
    """JSON with Arabic text, a CDATA terminator and markup inside a string."""
    return json.dumps(
        {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "name": "شهادة اللحام — أمينة حداد",
            "description": "ends CDATA early: ]]><script>alert(1)</script> and ]]]]>>",
        },
        ensure_ascii=False,
    )


@pytest.mark.parametrize("credential", [_hostile_text_credential(), TOKEN], ids=["json", "jwt"])
def test_bake_png_round_trips_and_leaves_the_image_intact(credential):
    original = _pillow_png()
    baked = bake_png(original, credential)
    assert unbake_png(baked) == credential
    kinds = [kind for kind, _ in _chunks(baked)]
    assert kinds[:2] == [b"IHDR", b"iTXt"]
    # Exactly the credential chunk was added: removing it gives back the original bytes.
    inserted = 8 + 25  # signature + IHDR chunk
    chunk_length = 12 + len(_chunks(baked)[1][1])
    assert baked[:inserted] + baked[inserted + chunk_length :] == original
    with Image.open(io.BytesIO(baked)) as image, Image.open(io.BytesIO(original)) as before:
        assert image.tobytes() == before.tobytes()


def test_bake_png_writes_an_uncompressed_itxt_chunk_as_ob3_requires():
    baked = bake_png(_pillow_png(), '{"name": "أمينة"}')
    [body] = _credential_chunks(baked)
    # keyword NUL, compression flag 0, method 0, empty language NUL, empty translation NUL
    assert body == PNG_KEYWORD + b"\x00\x00\x00\x00\x00" + '{"name": "أمينة"}'.encode()
    with Image.open(io.BytesIO(baked)) as image:
        assert image.text["openbadgecredential"] == '{"name": "أمينة"}'


def test_rebaking_a_png_replaces_every_earlier_credential():
    once = bake_png(_pillow_png(), "a.b.c")
    twice = bake_png(once, TOKEN)
    assert unbake_png(twice) == TOKEN
    assert len(_credential_chunks(twice)) == 1
    assert twice == bake_png(_pillow_png(), TOKEN)
    # Even chunks a careless baker put elsewhere, several of them, are removed.
    crowded = _png_with(_itxt("d.e.f"), _itxt("g.h.i"))
    assert _credential_chunks(bake_png(crowded, TOKEN)) == _credential_chunks(twice)


def test_the_verifier_accepts_what_bake_png_and_bake_svg_produce(signer):
    resolver = StaticResolver(signer)
    issuer = signer.verification_method.partition("#")[0]
    credential = make_credential(issuer_did=issuer, name="شهادة اللحام ]]> أمينة حداد")
    document = json.dumps(signed_json(signer, credential), ensure_ascii=False)
    for image in (
        bake_png(_pillow_png(), document),
        bake_png(_pillow_png(), signed_jwt(signer, credential)),
        bake_svg(SVG_BADGE, document),
        bake_svg(SVG_BADGE, signed_jwt(signer, credential)),
    ):
        result = verify_credential(image, resolver=resolver, now=NOW, trusted_issuers={issuer})
        assert result.verdict == Verdict.VALID, result.checks


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (lambda: b"GIF89a" + b"\x00" * 40, "not a PNG"),
        (lambda: _png_with(_chunk(b"tEXt", b"Comment\x00hi", crc=1)), "bad CRC"),
        (lambda: _pillow_png()[:-12], "no IEND"),
        (lambda: _pillow_png()[:-6], "middle of a chunk"),
        (lambda: PNG_SIGNATURE + _chunk(b"tEXt", b"a\x00b") + _chunk(b"IEND", b""), "IHDR"),
    ],
    ids=["gif", "bad-crc", "no-iend", "truncated", "no-ihdr"],
)
def test_bake_png_refuses_broken_images(image, message):
    with pytest.raises(BakingError, match=message):
        bake_png(image(), TOKEN)


@pytest.mark.parametrize(
    ("credential", "message"),
    [
        ("   ", "empty"),
        ("hello", "neither a JSON document nor a compact JWT"),
        ("[1, 2]", "neither a JSON document nor a compact JWT"),
        ('{"name": "a\x00b"}', "control characters"),
        ('{"name": "\ud800"}', "not valid Unicode"),
        ('{"a": "' + "x" * MAX_CREDENTIAL_CHARS + '"}', "at most 2,097,152"),
    ],
    ids=["empty", "text", "array", "nul", "lone-surrogate", "too-large"],
)
def test_bake_refuses_credentials_that_could_not_be_read_back(credential, message):
    with pytest.raises(BakingError, match=message):
        bake_png(_pillow_png(), credential)
    with pytest.raises(BakingError, match=message):
        bake_svg(SVG_BADGE, credential)


def _tree(svg: bytes):
    return SafeElementTree.fromstring(svg, forbid_dtd=True)


def test_bake_svg_puts_json_in_cdata_as_the_first_child_and_round_trips():
    credential = _hostile_text_credential()
    baked = bake_svg(SVG_BADGE, credential)
    assert unbake_svg(baked) == credential
    root = _tree(baked)
    assert root[0].tag == CREDENTIAL_ELEMENT
    assert root[0].text == credential
    # "]]>" inside the JSON did not end the CDATA: no markup escaped from it.
    assert [element.tag for element in root.iter()] == [
        "{http://www.w3.org/2000/svg}svg",
        CREDENTIAL_ELEMENT,
        "{http://www.w3.org/2000/svg}circle",
    ]
    assert b'<svg xmlns:openbadges="https://purl.imsglobal.org/ob/v3p0" ' in baked
    assert b"<![CDATA[" in baked


def test_bake_svg_puts_a_jwt_in_the_verify_attribute():
    baked = bake_svg(SVG_BADGE, TOKEN)
    assert unbake_svg(baked) == TOKEN
    element = _tree(baked)[0]
    assert element.tag == CREDENTIAL_ELEMENT
    assert element.get("verify") == TOKEN
    assert element.text is None
    assert len(element) == 0


def test_bake_svg_keeps_the_rest_of_the_document_as_written():
    baked = bake_svg(SVG_BADGE, TOKEN)
    added = (
        b' xmlns:openbadges="https://purl.imsglobal.org/ob/v3p0"',
        f'<openbadges:credential verify="{TOKEN}"/>'.encode(),
    )
    for text in added:
        assert baked.count(text) == 1
        baked = baked.replace(text, b"")
    assert baked == SVG_BADGE  # the comment, declaration, whitespace and escapes survive


def test_a_json_credential_with_windows_line_ends_survives_the_svg():
    credential = '{\r\n  "name": "أمينة حداد",\r\n  "note": "]]>"\r\n}'
    assert unbake_svg(bake_svg(SVG_BADGE, credential)) == credential


def test_rebaking_an_svg_replaces_the_earlier_credential():
    once = bake_svg(SVG_BADGE, _hostile_text_credential())
    twice = bake_svg(once, TOKEN)
    assert unbake_svg(twice) == TOKEN
    assert len(_tree(twice).findall(f".//{CREDENTIAL_ELEMENT}")) == 1
    assert twice == bake_svg(SVG_BADGE, TOKEN)


def test_rebaking_removes_credentials_nested_anywhere_under_any_prefix():
    svg = (
        b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:ob="https://purl.imsglobal.org/ob/v3p0">'
        b'<g><ob:credential verify="a.b.c"/></g><ob:credential><![CDATA[{}]]></ob:credential>'
        b"</svg>"
    )
    baked = bake_svg(svg, TOKEN)
    assert unbake_svg(baked) == TOKEN
    root = _tree(baked)
    assert len(root.findall(f".//{CREDENTIAL_ELEMENT}")) == 1
    assert root.find("{http://www.w3.org/2000/svg}g") is not None  # only the credentials went


def test_bake_svg_opens_an_empty_root_element():
    baked = bake_svg(b'<svg xmlns="http://www.w3.org/2000/svg" width="16"/>', TOKEN)
    assert unbake_svg(baked) == TOKEN
    assert baked.endswith(b"/></svg>")


def test_bake_svg_transcodes_other_encodings_to_utf8():
    svg = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>'
        '<svg xmlns="http://www.w3.org/2000/svg"><title>Soudure, café</title></svg>'
    ).encode("latin-1")
    baked = bake_svg(svg, '{"name": "أمينة"}')
    assert baked.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert unbake_svg(baked) == '{"name": "أمينة"}'
    assert _tree(baked).find("{http://www.w3.org/2000/svg}title").text == "Soudure, café"


@pytest.mark.parametrize(
    ("svg", "message"),
    [
        (
            b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<svg xmlns="http://www.w3.org/2000/svg">&x;</svg>',
            "DTD or entities",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY lol "lol">]><svg>&lol;</svg>',
            "DTD or entities",
        ),
        (b"<svg><unclosed></svg>", "not well-formed"),
        (b'<html xmlns="http://www.w3.org/1999/xhtml"/>', "root element is not <svg>"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:openbadges="urn:other"/>',
            "binds the prefix 'openbadges' to another namespace",
        ),
    ],
    ids=["xxe", "entity", "malformed", "not-svg", "prefix-taken"],
)
def test_bake_svg_refuses_svgs_it_cannot_bake_safely(svg, message):
    with pytest.raises(BakingError, match=message):
        bake_svg(svg, TOKEN)


SCRIPTED_SVGS = {
    "script": b"<script>alert(1)</script>",
    "xhtml-script": (
        b'<foreignObject><script xmlns="http://www.w3.org/1999/xhtml">alert(1)</script>'
        b"</foreignObject>"
    ),
    "onload": b'<circle r="8" onload="alert(1)"/>',
    "onclick-namespaced": b'<g xmlns:x="urn:x" x:onclick="alert(1)"/>',
    "javascript-href": b'<a href="javascript:alert(1)"><circle r="8"/></a>',
    "encoded-xlink-href": (
        b'<a xmlns:xlink="http://www.w3.org/1999/xlink" '
        b'xlink:href=" &#106;ava&#9;script&#58;alert(1)"><circle r="8"/></a>'
    ),
    "animated-href": b'<a><animate attributeName="href" values="x;javascript:alert(1)"/></a>',
    "animated-handler": b'<set attributeName="onmouseover" to="alert(1)"/>',
}


@pytest.mark.parametrize("payload", SCRIPTED_SVGS.values(), ids=SCRIPTED_SVGS.keys())
def test_svgs_with_scripts_are_refused_when_baking_and_when_reading(payload):
    clean = bake_svg(SVG_BADGE, TOKEN)
    hostile = clean.replace(b"</svg>", payload + b"</svg>")
    with pytest.raises(BakingError, match="the SVG contains scripts, which are refused"):
        unbake_svg(hostile)
    with pytest.raises(BakingError, match="the SVG contains scripts, which are refused"):
        bake_svg(SVG_BADGE.replace(b"</svg>", payload + b"</svg>"), TOKEN)


def test_the_verifier_reports_why_a_scripted_svg_is_refused():
    hostile = bake_svg(SVG_BADGE, TOKEN).replace(b"</svg>", b"<script>alert(1)</script></svg>")
    result = verify_credential(hostile, resolver=StaticResolver(), now=NOW)
    assert result.verdict == Verdict.INVALID
    assert "contains scripts" in result.check("format").message


@pytest.mark.parametrize("encoding", ["TTF-8", "utf-32", "rot13", "idna", "punycode"])
def test_an_svg_declaring_an_encoding_that_cannot_be_read_is_refused_not_a_crash(encoding):
    # expat asks Python's codecs for the declared encoding: LookupError, ValueError and
    # UnicodeError escaped unbake_svg (and so the verifier) before (found by tests/property).
    svg = f'<?xml version="1.0" encoding="{encoding}"?><svg xmlns="http://www.w3.org/2000/svg"/>'

    with pytest.raises(BakingError, match="encoding"):
        unbake_svg(svg.encode())
    with pytest.raises(BakingError):
        bake_svg(svg.encode().replace(b"idna", b"rot13"), TOKEN)
