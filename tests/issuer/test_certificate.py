"""The worker's printable certificate: an HTML page and a one-page PDF of one credential.

The PDF is read back the way a reader meets it: its text (through the fonts' ToUnicode maps),
its link annotations, and its QR image, decoded with a real barcode reader.
"""

from __future__ import annotations

import base64
import io
import json
import re
import struct
import zlib
from datetime import timedelta
from html.parser import HTMLParser
from http import HTTPStatus

import pytest
import zxingcpp
from PIL import Image

from issuer.certificate import (
    MAX_DESCRIPTION,
    MAX_NAME,
    Certificate,
    certificate_from,
    render_html,
    render_pdf,
)
from verifier.qr import qr_png

from ..conftest import PUBLIC_URL, issue_to_amina
from ..helpers import WELDING_SKILL, make_credential

EXPLANATION = "Scan the QR code or open the link to check this certificate with the issuer."
ARABIC_NAME = "محمد الأحمد"
MM = 72 / 25.4  # PDF points per millimetre
A4 = (595.28, 841.89)  # points


# -- builders -----------------------------------------------------------------------------------


@pytest.fixture
def record(db, kek, centre, welding, now):
    """A credential issued by this instance, valid for three years."""
    return issue_to_amina(
        db, kek, centre, welding, now, valid_until=now + timedelta(days=3 * 365)
    ).record


def _verify_url(record) -> str:
    return f"{PUBLIC_URL}/v/{record.public_id}"


def _certificate(record, *, name: str | None = None) -> Certificate:
    url = _verify_url(record)
    return certificate_from(
        json.loads(record.document),
        recipient_name=name or record.recipient_name,
        verify_url=url,
        qr_png=qr_png(url),
    )


def _from_document(document, *, name: str = "Amina Haddad") -> Certificate:
    url = f"{PUBLIC_URL}/v/abc123"
    return certificate_from(document, recipient_name=name, verify_url=url, qr_png=qr_png(url))


def _decode_qr(image: Image.Image) -> list[str]:
    return [barcode.text for barcode in zxingcpp.read_barcodes(image)]


# -- reading HTML -------------------------------------------------------------------------------


class _Page(HTMLParser):
    """Collects every URL-bearing attribute, the tags used and the text of dir="auto" elements."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.tags: set[str] = set()
        self.styled: list[str] = []  # tags with a style="" attribute
        self.auto_dir_text: list[str] = []
        self._auto = 0

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        values = dict(attrs)
        self.urls.extend(
            (tag, name, value or "")
            for name, value in attrs
            if name in ("src", "href", "srcset", "action", "poster", "data")
        )
        if "style" in values:
            self.styled.append(tag)
        if values.get("dir") == "auto":
            self._auto += 1
            self.auto_dir_text.append("")

    def handle_endtag(self, tag):
        if self._auto and tag in ("h1", "p", "dd", "li"):
            self._auto -= 1

    def handle_data(self, data):
        if self._auto:
            self.auto_dir_text[-1] += data


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def _qr_in_html(page: _Page) -> Image.Image:
    [src] = [value for tag, name, value in page.urls if tag == "img" and name == "src"]
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix)
    return Image.open(io.BytesIO(base64.b64decode(src.removeprefix(prefix))))


# -- reading PDF --------------------------------------------------------------------------------


def _objects(pdf: bytes) -> dict[int, tuple[bytes, bytes | None]]:
    """Every indirect object: its dictionary and its (decompressed) stream, if any."""
    objects = {}
    for match in re.finditer(rb"(\d+) 0 obj\n(.*?)\nendobj", pdf, re.S):
        head, found, rest = match.group(2).partition(b"\nstream\n")
        stream = None
        if found:
            stream = rest[: int(re.search(rb"/Length (\d+)", head).group(1))]
            if b"/FlateDecode" in head:
                stream = zlib.decompress(stream)
        objects[int(match.group(1))] = (head, stream)
    return objects


def _content(objects) -> bytes:
    [content] = [s for h, s in objects.values() if s is not None and b" Tf" in s]
    return content


_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _unescape(literal: bytes) -> bytes:
    def one(match):
        code = match.group(1)
        if code[:1].isdigit():
            return bytes([int(code, 8)])
        return _ESCAPES.get(code, code)

    return re.sub(rb"\\([0-7]{1,3}|.)", one, literal, flags=re.S)


def _fonts(objects) -> dict[bytes, tuple[bytes, dict[bytes, str]]]:
    """Each font resource name: its base font name and its glyph code -> text map."""
    [resources] = [h for h, _ in objects.values() if b"/Font <<" in h]
    fonts = {}
    for name, number in re.findall(rb"/(F\d+) (\d+) 0 R", resources):
        head = objects[int(number)][0]
        cmap = objects[int(re.search(rb"/ToUnicode (\d+) 0 R", head).group(1))][1]
        fonts[name] = (
            re.search(rb"/BaseFont /(\S+)", head).group(1),
            {
                bytes.fromhex(glyph.decode()): bytes.fromhex(text.decode()).decode("utf-16-be")
                for glyph, text in re.findall(rb"<([0-9A-F]{4})> <([0-9A-F]+)>", cmap)
            },
        )
    return fonts


def _text_lines(pdf: bytes) -> list[str]:
    """The text of each drawn line, in drawing order (visual order for right-to-left text)."""
    objects = _objects(pdf)
    fonts = {name: glyphs for name, (_, glyphs) in _fonts(objects).items()}
    lines: list[str] = []
    font: dict[bytes, str] = {}
    line: list[str] = []
    for m in re.finditer(rb"/(F\d+) [\d.]+ Tf|\(((?:\\.|[^\\)])*)\) Tj|\bET\b", _content(objects)):
        if m.group(1):
            font = fonts[m.group(1)]
        elif m.group(2) is not None:
            codes = _unescape(m.group(2))
            line.extend(font[codes[i : i + 2]] for i in range(0, len(codes), 2))
        elif line:
            lines.append("".join(line))
            line = []
    return lines


def _text(pdf: bytes) -> str:
    return " ".join(" ".join(_text_lines(pdf)).split())


def _link_targets(pdf: bytes) -> list[str]:
    return [uri.decode() for uri in re.findall(rb"/S /URI /URI \((.*?)\)", pdf)]


def _links_within_printable_area(pdf: bytes) -> bool:
    """Whether every link (the QR code, the verify URL, the skills) keeps 10 mm off each edge.

    Printers leave a few millimetres of every edge blank.
    """
    rects = [[float(v) for v in rect.split()] for rect in re.findall(rb"/Rect \[([\d. ]+)\]", pdf)]
    margin = 10 * MM
    return bool(rects) and all(
        x0 >= margin and y0 >= margin and x1 <= A4[0] - margin and y1 <= A4[1] - margin
        for x0, y0, x1, y1 in rects
    )


def _g4_as_tiff(width: int, height: int, data: bytes, *, black_is_1: bool) -> bytes:
    """Wrap a CCITT Group 4 stream in a one-strip TIFF, which Pillow (libtiff) decodes."""
    entries = [
        (256, 3, width),  # ImageWidth
        (257, 3, height),  # ImageLength
        (258, 3, 1),  # BitsPerSample
        (259, 3, 4),  # Compression: CCITT Group 4
        (262, 3, 0 if black_is_1 else 1),  # Photometric: WhiteIsZero / BlackIsZero
        (273, 4, 8 + 2 + 12 * 8 + 4),  # StripOffsets: right after this directory
        (278, 3, height),  # RowsPerStrip
        (279, 4, len(data)),  # StripByteCounts
    ]
    directory = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, kind, 1, value) for tag, kind, value in entries
    )
    return b"II*\x00" + struct.pack("<I", 8) + directory + struct.pack("<I", 0) + data


def _pdf_qr(pdf: bytes) -> Image.Image:
    [(head, data)] = [(h, s) for h, s in _objects(pdf).values() if b"/Subtype /Image" in h]
    # fpdf2 stores a 1-bit PNG as CCITT G4; another encoding needs another reader here.
    assert b"/CCITTFaxDecode" in head, head

    def number(key: bytes) -> int:
        return int(re.search(rb"/" + key + rb" (\d+)", head).group(1))

    tiff = _g4_as_tiff(
        number(b"Width"), number(b"Height"), data, black_is_1=b"/BlackIs1 true" in head
    )
    return Image.open(io.BytesIO(tiff)).convert("L")


def _qr_placement(pdf: bytes) -> tuple[float, float, float, float]:
    """(width, height, x, y) in points of the drawn QR image."""
    [placement] = re.findall(
        rb"([\d.]+) 0 0 ([\d.]+) ([\d.]+) ([\d.]+) cm /I\d+ Do", _content(_objects(pdf))
    )
    return tuple(float(v) for v in placement)  # type: ignore[return-value]


# -- what the certificate says ------------------------------------------------------------------


def test_the_certificate_states_what_the_signed_credential_says(record, centre, now):
    certificate = _certificate(record)
    document = json.loads(record.document)
    assert certificate.recipient_name == "Amina Haddad"
    assert certificate.achievement_name == "Perform MAG welding"
    assert certificate.achievement_description == "Welds steel."
    assert certificate.criteria == "Passed bend tests."
    assert certificate.issuer_name == "Northside Skills Centre"
    assert certificate.issuer_id == centre.did
    assert certificate.issued_on == now
    assert certificate.valid_until == now + timedelta(days=3 * 365)
    assert certificate.skills == (("perform metal active gas welding", WELDING_SKILL),)
    assert certificate.credential_id == document["id"]
    assert certificate.verify_url == _verify_url(record)


def test_missing_optional_claims_are_left_out():
    document = make_credential()
    achievement = document["credentialSubject"]["achievement"]
    for optional in ("description", "criteria", "alignment"):
        achievement.pop(optional, None)
    document["issuer"] = {"id": "did:web:tessera.test:orgs:northside", "type": ["Profile"]}
    certificate = _from_document(document)
    assert certificate.achievement_description == ""
    assert certificate.criteria is None
    assert certificate.skills == ()
    assert certificate.valid_until is None
    # Without a name, the issuer is named by its DID rather than left blank.
    assert certificate.issuer_name == "did:web:tessera.test:orgs:northside"
    assert render_pdf(certificate).startswith(b"%PDF-")


def _without_achievement(document):
    del document["credentialSubject"]["achievement"]
    del document["name"]  # the credential's own name would stand in for it


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda d: d.pop("validFrom"), "validFrom"),
        (lambda d: d.pop("id"), "credential id"),
        (lambda d: d.pop("issuer"), "issuer id"),
        (_without_achievement, "achievement name"),
    ],
)
def test_a_credential_without_its_essentials_makes_no_certificate(change, complaint):
    document = make_credential()
    change(document)
    with pytest.raises(ValueError, match=complaint):
        _from_document(document)


def test_a_blank_recipient_name_makes_no_certificate():
    with pytest.raises(ValueError, match="recipient name"):
        _from_document(make_credential(), name="  \n ")


# -- the HTML page ------------------------------------------------------------------------------


def test_the_page_shows_the_facts_and_a_qr_code_that_opens_the_verify_page(app, record, centre):
    with app.app_context():  # a ZIP is built by a job, outside any request
        html = render_html(_certificate(record), standalone=True)
    for fact in (
        "Amina Haddad",
        "Perform MAG welding",
        "Welds steel.",
        "Passed bend tests.",
        "Northside Skills Centre",
        centre.did,
        "15 January 2026",
        "14 January 2029",  # valid until
        json.loads(record.document)["id"],
        "perform metal active gas welding",
        _verify_url(record),
        EXPLANATION,
    ):
        assert fact in html, fact
    page = _parse(html)
    assert ("a", "href", _verify_url(record)) in page.urls
    assert ("a", "href", WELDING_SKILL) in page.urls
    assert _decode_qr(_qr_in_html(page)) == [_verify_url(record)]


def test_the_standalone_page_loads_nothing_and_runs_nothing(app, record):
    with app.app_context():
        html = render_html(_certificate(record), standalone=True, back_url="/claim/secret")
    page = _parse(html)
    assert "script" not in page.tags and "link" not in page.tags
    assert "<style>" in html and "@page" in html and "@media print" in html
    assert "url(" not in html and "@import" not in html
    for tag, attribute, value in page.urls:
        if attribute == "src":
            assert value.startswith("data:"), (tag, value)
        else:
            assert value in (_verify_url(record), WELDING_SKILL), (tag, attribute, value)
    # The way back to the worker's page only makes sense online.
    assert "/claim/secret" not in html


def test_the_online_page_links_its_stylesheet_as_the_csp_requires(app, client, record):
    with app.test_request_context():
        html = render_html(_certificate(record), standalone=False, back_url="/claim/secret")
    page = _parse(html)
    # style-src 'self': an inline <style> or style="" would be ignored by the browser.
    assert "<style" not in html and page.styled == []
    assert "script" not in page.tags
    [stylesheet] = [v for tag, _, v in page.urls if tag == "link"]
    with client.get(stylesheet) as response:
        assert response.status_code == HTTPStatus.OK
        assert response.mimetype == "text/css"
        assert b"@media print" in response.data
    assert ("a", "href", "/claim/secret") in page.urls
    assert _decode_qr(_qr_in_html(page)) == [_verify_url(record)]


def test_a_right_to_left_name_is_marked_for_its_own_direction(app, record):
    with app.app_context():
        html = render_html(_certificate(record, name=ARABIC_NAME), standalone=True)
    assert ARABIC_NAME in _parse(html).auto_dir_text
    assert re.search(r'<html lang="\w+" dir="(ltr|rtl)">', html)


# -- the PDF ------------------------------------------------------------------------------------


def test_the_pdf_is_one_a4_page_saying_who_showed_what_to_whom(record, centre):
    pdf = render_pdf(_certificate(record))
    assert pdf.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type /Page\b", pdf)) == 1
    assert b"/Count 1" in pdf
    assert f"/MediaBox [0 0 {A4[0]:.2f} {A4[1]:.2f}]".encode() in pdf
    text = _text(pdf)
    for fact in (
        "Amina Haddad",
        "Perform MAG welding",
        "Welds steel.",
        "Passed bend tests.",
        "perform metal active gas welding",
        "Northside Skills Centre",
        centre.did,
        "15 January 2026",
        "14 January 2029",
        json.loads(record.document)["id"],
        EXPLANATION,
        _verify_url(record),
    ):
        assert fact in text, fact
    assert b"/Title (Certificate: Perform MAG welding, Amina Haddad)" in pdf
    assert b"/Author (Northside Skills Centre)" in pdf


def test_the_pdf_qr_code_and_link_open_the_verify_page(record):
    pdf = render_pdf(_certificate(record))
    assert _verify_url(record) in _link_targets(pdf)
    assert _decode_qr(_pdf_qr(pdf)) == [_verify_url(record)]
    width, height, _, _ = _qr_placement(pdf)
    assert width >= 40 * MM and height >= 40 * MM  # big enough to scan from paper
    assert _links_within_printable_area(pdf)


def test_the_same_credential_always_gives_the_same_pdf(record):
    certificate = _certificate(record)
    first = render_pdf(certificate)
    assert render_pdf(certificate) == first
    assert b"/CreationDate (D:20260115093000Z)" in first  # the issue date, not the clock


def test_an_arabic_name_is_shaped_and_runs_right_to_left(record):
    pdf = render_pdf(_certificate(record, name=ARABIC_NAME))
    assert len(re.findall(rb"/Type /Page\b", pdf)) == 1
    [line] = [line for line in _text_lines(pdf) if "م" in line]
    # Drawn left to right, so the first word of the name is drawn last.
    assert line[::-1].startswith("محمد ")
    # Joined letters: meem at the start and in the middle of محمد are different glyphs of the
    # bold face the name is set in (unshaped text would use one isolated form).
    [bold] = [g for base, g in _fonts(_objects(pdf)).values() if base.endswith(b"Bold")]
    assert len([code for code, text in bold.items() if text == "م"]) >= 2


def test_the_longest_texts_are_cut_and_still_fit_one_page():
    document = make_credential(
        id="urn:uuid:" + "0b5a1c3e-7f38-4a8e-9d0c-2f7e1a9b6c41" * 9,
        validUntil="2031-01-15T09:30:00Z",
    )
    document["issuer"] = {"id": "did:web:" + "skills.example.org:orgs:" * 13, "name": "N" * 400}
    achievement = document["credentialSubject"]["achievement"]
    achievement["name"] = "W" * 600
    achievement["description"] = "Lays fillet and butt welds. " * 200
    achievement["criteria"] = {"narrative": "Observed by two assessors. " * 100}
    achievement["alignment"] = [
        {"targetName": "perform metal active gas welding " * 10, "targetUrl": WELDING_SKILL}
    ] * 30
    url = "https://credentials.example-training-centre.org/v/" + "x" * 60
    certificate = certificate_from(
        document, recipient_name="Mwanaisha " * 40, verify_url=url, qr_png=qr_png(url)
    )
    assert len(certificate.recipient_name) <= MAX_NAME
    assert len(certificate.achievement_description) <= MAX_DESCRIPTION
    assert certificate.achievement_description.endswith("…")

    pdf = render_pdf(certificate)
    assert len(re.findall(rb"/Type /Page\b", pdf)) == 1
    width, height, _, _ = _qr_placement(pdf)
    assert width >= 40 * MM and height >= 40 * MM
    assert _links_within_printable_area(pdf)
    assert url in _link_targets(pdf)
    assert url in "".join(_text_lines(pdf))


def test_certificates_are_dated_in_utc():
    # 23:30 in New York on 15 January is 04:30 UTC on the 16th.
    certificate = _from_document(make_credential(validFrom="2026-01-15T23:30:00-05:00"))
    assert "16 January 2026" in _text(render_pdf(certificate))
