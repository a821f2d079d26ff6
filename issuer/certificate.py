"""The worker's printable certificate of one credential: an HTML page and a one-page A4 PDF.

Both show the same facts, read from the signed credential (not from our database), so the
paper says what the verify page will confirm. The credential is read with the verify pages'
tolerant reader, then every text is cut to a length that still fits one page. Neither form
loads anything from the network: the QR code is embedded, the HTML can carry its stylesheet
inline and the PDF embeds its fonts (DejaVu Sans, bundled in ``issuer/fonts``).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from flask import render_template
from fpdf import FPDF
from fpdf.enums import Align, WrapMode, XPos, YPos
from markupsafe import Markup

from verifier import i18n, pages
from verifier.pages import gettext as _

FONTS = Path(__file__).parent / "fonts"
FONT_FAMILY = "DejaVuSans"
STYLESHEET = "certificate.css"

# Bounds that keep the worst case on one A4 page (tests/issuer/test_certificate.py checks it).
MAX_NAME = 150
MAX_ACHIEVEMENT = 200
MAX_DESCRIPTION = 900
MAX_CRITERIA = 500
MAX_SKILLS = 8
MAX_SKILL = 120
MAX_IDENTIFIER = 300

EXPLANATION = "Scan the QR code or open the link to check this certificate with the issuer."

T = TypeVar("T")

# Control characters other than line breaks would print as boxes or confuse text layout.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class Certificate:
    """What a printed certificate shows; every text already bounded and cleaned."""

    recipient_name: str
    achievement_name: str
    achievement_description: str
    criteria: str | None
    issuer_name: str
    issuer_id: str  # the issuer's DID
    issued_on: datetime  # validFrom
    valid_until: datetime | None
    skills: tuple[tuple[str, str], ...]  # (label, ESCO URI or "" when the alignment has none)
    verify_url: str
    credential_id: str
    qr_png: bytes  # PNG of the QR code that encodes verify_url


def _clean(text: str | None, limit: int, *, one_line: bool = False) -> str | None:
    """``text`` without control characters, cut to ``limit``; None when nothing is left."""
    if text is None:
        return None
    text = _CONTROL.sub(" ", text)
    text = " ".join(text.split()) if one_line else text.strip()
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _required(value: T | None, what: str) -> T:
    if value is None:
        raise ValueError(f"cannot make a certificate without {what}")
    return value


def certificate_from(
    document: Mapping[str, Any], *, recipient_name: str, verify_url: str, qr_png: bytes
) -> Certificate:
    """The certificate of an Open Badges 3.0 credential ``document`` issued to ``recipient_name``.

    Optional claims (description, criteria, alignments, issuer name, ``validUntil``) may be
    missing or malformed; they are left out. Long texts are cut with an ellipsis.

    Raises:
        ValueError: the recipient name is blank, or the credential lacks an achievement name,
            an issuer id, a valid ``validFrom`` or an ``id``.
    """
    view = pages.describe(document)
    raw_id = document.get("id")
    name = _required(_clean(recipient_name, MAX_NAME, one_line=True), "a recipient name")
    achievement = _required(
        _clean(view.achievement_name, MAX_ACHIEVEMENT, one_line=True), "an achievement name"
    )
    issuer_id = _required(_clean(view.issuer_id, MAX_IDENTIFIER, one_line=True), "an issuer id")
    issued_on = _required(view.valid_from, "a valid validFrom")
    credential_id = _required(
        _clean(raw_id if isinstance(raw_id, str) else None, MAX_IDENTIFIER, one_line=True),
        "a credential id",
    )
    skills = tuple(
        (label, alignment.url or "")
        for alignment in view.alignments[:MAX_SKILLS]
        if (label := _clean(alignment.name, MAX_SKILL, one_line=True))
    )
    return Certificate(
        recipient_name=name,
        achievement_name=achievement,
        achievement_description=_clean(view.description, MAX_DESCRIPTION) or "",
        criteria=_clean(view.criteria, MAX_CRITERIA),
        issuer_name=_clean(view.issuer_name, MAX_NAME, one_line=True) or issuer_id,
        issuer_id=issuer_id,
        issued_on=issued_on,
        valid_until=view.valid_until,
        skills=skills,
        verify_url=verify_url,
        credential_id=credential_id,
        qr_png=qr_png,
    )


def _long_date(moment: datetime) -> str:
    """``15 January 2026``: the UTC day in the reader's language (``15 de enero de 2026``)."""
    return i18n.long_date(moment)


# -- HTML -------------------------------------------------------------------------------------


@cache
def _stylesheet() -> Markup:
    # Our own file, so it may go into <style> unescaped (escaping would break `>` and quotes).
    return Markup(Path(pages.bp.static_folder or "", STYLESHEET).read_text(encoding="utf-8"))  # noqa: S704


def render_html(certificate: Certificate, *, standalone: bool, back_url: str | None = None) -> str:
    """The certificate as an HTML page; call inside an app context (a request for the online page).

    ``standalone=True`` gives a self-contained file (stylesheet inline, QR as a ``data:`` URI)
    for a ZIP to open offline. Otherwise the page links the stylesheet from the verifier's
    static files, since the Content-Security-Policy forbids inline styles, and shows a link
    to ``back_url`` (the worker's page) when given. Either way there is no JavaScript.
    """
    qr = base64.b64encode(certificate.qr_png).decode("ascii")
    return render_template(
        "certificate.html",
        certificate=certificate,
        standalone=standalone,
        css=_stylesheet() if standalone else None,
        back_url=back_url,
        qr_data_uri=f"data:image/png;base64,{qr}",
        issued_on=_long_date(certificate.issued_on),
        issued_on_iso=pages.iso_datetime(certificate.issued_on),
        valid_until=_long_date(certificate.valid_until) if certificate.valid_until else None,
        valid_until_iso=(
            pages.iso_datetime(certificate.valid_until) if certificate.valid_until else None
        ),
    )


# -- PDF --------------------------------------------------------------------------------------

PAGE_MARGIN = 18  # mm, all four sides of the A4 page
QR_SIZE = 45  # mm: a phone camera reads it from paper at arm's length
GAP = 6  # mm between the facts column and the QR code
SECTION_GAP = 6  # mm at least between the skills and the facts
BLACK = (0, 0, 0)
MUTED = (64, 64, 64)
# Type scales tried in turn until the certificate fits one page; the text bounds above make
# the last one always fit.
SCALES = (1.0, 0.9, 0.8, 0.7)


class _Layout:
    """Draws one certificate on one page of ``pdf`` at a type ``scale``.

    With ``dry=True`` nothing is drawn: ``body()`` only measures where the text would end.
    """

    def __init__(
        self, pdf: FPDF, certificate: Certificate, scale: float, *, dry: bool = False
    ) -> None:
        self.pdf = pdf
        self.c = certificate
        self.scale = scale
        self.dry = dry
        self.measured = 0.0  # mm of text measured so far, when dry
        # Arabic reads from the right: left-aligned text goes right, the QR code goes left.
        self.rtl = i18n.direction() == "rtl"

    def font(self, size: float, *, bold: bool = False, color: tuple[int, int, int] = BLACK) -> None:
        self.pdf.set_font(FONT_FAMILY, "B" if bold else "", size * self.scale)
        self.pdf.set_text_color(*color)

    def line_height(self, size: float) -> float:
        return size * self.scale * 0.3528 * 1.35  # pt to mm, with leading

    def paragraph(
        self,
        text: str,
        size: float,
        *,
        bold: bool = False,
        color: tuple[int, int, int] = BLACK,
        align: Align = Align.L,
        width: float = 0,
        link: str | None = None,
        wrap: WrapMode = WrapMode.WORD,
    ) -> None:
        self.font(size, bold=bold, color=color)
        if self.dry:
            self.measured += self.pdf.multi_cell(
                width,
                self.line_height(size),
                text,
                wrapmode=wrap,
                dry_run=True,
                output="HEIGHT",
            )
            return
        if self.rtl and align == Align.L:
            align = Align.R
        self.pdf.multi_cell(
            width,
            self.line_height(size),
            text,
            align=align,
            link=link,
            wrapmode=wrap,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )

    def space(self, mm: float) -> None:
        if self.dry:
            self.measured += mm * self.scale
        else:
            self.pdf.ln(mm * self.scale)

    def body(self) -> float:
        """The upper part (who, what, how assessed, skills); returns where it ends."""
        c = self.c
        self.paragraph(_("Certificate of competency").upper(), 10, bold=True, align=Align.C)
        self.paragraph(c.issuer_name, 11, align=Align.C)
        self.space(10)
        self.paragraph(_("This certifies that"), 11, color=MUTED, align=Align.C)
        self.space(2)
        self.paragraph(c.recipient_name, 24, bold=True, align=Align.C)
        self.space(4)
        self.paragraph(_("has shown the competency"), 11, color=MUTED, align=Align.C)
        self.space(2)
        self.paragraph(c.achievement_name, 17, bold=True, align=Align.C)
        if c.achievement_description:
            self.space(5)
            self.paragraph(c.achievement_description, 10.5)
        if c.criteria:
            self.space(4)
            self.paragraph(_("How it was assessed"), 9, bold=True, color=MUTED)
            self.paragraph(c.criteria, 10.5)
        if c.skills:
            self.space(4)
            self.paragraph(_("Skills (ESCO)"), 9, bold=True, color=MUTED)
            for label, uri in c.skills:
                self.paragraph(f"•  {label}", 10.5, link=uri or None)
        return self.pdf.get_y() + self.measured

    def footer_height(self) -> float:
        """The height of the facts and QR block, measured without drawing."""
        width = self.facts_width()
        height = 0.0
        for _label, value, wrap in self.facts():
            self.font(8.5, bold=True)
            height += self.line_height(8.5)
            self.font(10)
            lines = self.pdf.multi_cell(
                width, self.line_height(10), value, dry_run=True, output="LINES", wrapmode=wrap
            )
            height += len(lines) * self.line_height(10) + 1.5
        return max(height, QR_SIZE + 2) + self.check_height() + 4

    def check_height(self) -> float:
        self.font(10)
        width = self.pdf.epw
        explanation = self.pdf.multi_cell(
            width, self.line_height(10), _(EXPLANATION), dry_run=True, output="LINES"
        )
        url = self.pdf.multi_cell(
            width,
            self.line_height(10),
            self.c.verify_url,
            dry_run=True,
            output="LINES",
            wrapmode=WrapMode.CHAR,
        )
        return (len(explanation) + len(url)) * self.line_height(10) + 2

    def facts_width(self) -> float:
        return self.pdf.epw - QR_SIZE - GAP

    def facts(self) -> list[tuple[str, str, WrapMode]]:
        """(label, value, how to wrap it): identifiers break anywhere, names between words."""
        c = self.c
        facts = [
            (_("Issued by"), c.issuer_name, WrapMode.WORD),
            (_("Issuer ID"), c.issuer_id, WrapMode.CHAR),
            (_("Issued on"), _long_date(c.issued_on), WrapMode.WORD),
        ]
        if c.valid_until is not None:
            facts.append((_("Valid until"), _long_date(c.valid_until), WrapMode.WORD))
        facts.append((_("Credential ID"), c.credential_id, WrapMode.CHAR))
        return facts

    def footer(self, top: float) -> None:
        """Facts on the left, the QR code on the right, then how to check, from ``top``."""
        pdf, c = self.pdf, self.c
        pdf.set_draw_color(*MUTED)
        pdf.set_line_width(0.3)
        pdf.line(pdf.l_margin, top, pdf.w - pdf.r_margin, top)
        top += 4
        qr_x = pdf.l_margin if self.rtl else pdf.w - pdf.r_margin - QR_SIZE
        facts_x = pdf.l_margin + QR_SIZE + GAP if self.rtl else pdf.l_margin
        pdf.image(
            c.qr_png,
            x=qr_x,
            y=top,
            w=QR_SIZE,
            h=QR_SIZE,
            link=c.verify_url,
            alt_text=_("QR code that opens the verify page of this certificate"),
        )
        pdf.set_xy(facts_x, top)
        for label, value, wrap in self.facts():
            pdf.set_x(facts_x)
            self.paragraph(label, 8.5, bold=True, color=MUTED, width=self.facts_width())
            pdf.set_x(facts_x)
            self.paragraph(value, 10, width=self.facts_width(), wrap=wrap)
            pdf.ln(1.5)
        pdf.set_y(max(pdf.get_y(), top + QR_SIZE + 2))
        self.paragraph(_(EXPLANATION), 10, align=Align.C)
        self.paragraph(c.verify_url, 10, align=Align.C, link=c.verify_url, wrap=WrapMode.CHAR)


@contextmanager
def _document(certificate: Certificate) -> Iterator[FPDF]:
    """A blank one-page A4 PDF with our fonts and metadata, its font files closed after use."""
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    try:
        pdf.set_margins(PAGE_MARGIN, PAGE_MARGIN, PAGE_MARGIN)
        # We fit the page ourselves (SCALES): an automatic break would start a second page.
        pdf.set_auto_page_break(False, margin=PAGE_MARGIN)
        pdf.add_font(FONT_FAMILY, "", FONTS / "DejaVuSans.ttf")
        pdf.add_font(FONT_FAMILY, "B", FONTS / "DejaVuSans-Bold.ttf")
        # HarfBuzz shaping: Arabic letters join and right-to-left names run right to left.
        pdf.set_text_shaping(True)
        pdf.set_lang(i18n.current_language())
        pdf.set_title(
            _(
                "Certificate: %(achievement)s, %(name)s",
                achievement=certificate.achievement_name,
                name=certificate.recipient_name,
            )
        )
        pdf.set_author(certificate.issuer_name)
        pdf.set_subject(certificate.achievement_name)
        pdf.set_creator("Tessera")
        # The issue date, not the clock: the same credential always gives the same bytes.
        pdf.set_creation_date(certificate.issued_on.astimezone(UTC))
        pdf.add_page()
        yield pdf
    finally:
        # fpdf2 reads fonts lazily and never closes them: one leaked file per font otherwise.
        for font in pdf.fonts.values():
            if (ttfont := getattr(font, "ttfont", None)) is not None:
                ttfont.close()


def _fits(pdf: FPDF, certificate: Certificate, scale: float) -> bool:
    layout = _Layout(pdf, certificate, scale, dry=True)
    return layout.body() + SECTION_GAP + layout.footer_height() <= pdf.h - pdf.b_margin


def render_pdf(certificate: Certificate) -> bytes:
    """The certificate as a one-page A4 PDF with embedded fonts, QR code and verify link."""
    with _document(certificate) as pdf:
        # The bounds on every text make the smallest type always fit.
        scale = next((s for s in SCALES if _fits(pdf, certificate, s)), SCALES[-1])
        layout = _Layout(pdf, certificate, scale)
        body_end = layout.body()
        # The facts sit at the foot of the page, as on a printed certificate.
        bottom = pdf.h - pdf.b_margin
        layout.footer(max(body_end + SECTION_GAP, bottom - layout.footer_height()))
        return bytes(pdf.output())
