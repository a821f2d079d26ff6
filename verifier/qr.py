"""QR codes for verify URLs, rendered at the web edge with ``qrcode`` (PNG and SVG)."""

from __future__ import annotations

import io

import qrcode
from qrcode.constants import ERROR_CORRECT_M
from qrcode.image.pil import PilImage
from qrcode.image.svg import SvgPathFillImage

#: Longer input would make a code too dense to scan from a phone screen or a printed page.
MAX_QR_DATA = 2_000
#: The quiet zone the QR specification requires around the code, in modules.
BORDER = 4
#: Pixels per module in the PNG (a verify URL gives a code of about 370 x 370 pixels).
BOX_SIZE = 10


def _code(data: str) -> qrcode.QRCode:  # type: ignore[type-arg]
    if len(data) > MAX_QR_DATA:
        raise ValueError(f"QR code data is {len(data):,} characters; at most {MAX_QR_DATA:,}")
    # Level M survives a scuffed print or a scratched screen (about 15% damage) while keeping
    # the code coarse enough for a cheap phone camera.
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=BORDER, box_size=BOX_SIZE)
    code.add_data(data)
    code.make(fit=True)
    return code


def qr_png(data: str) -> bytes:
    """A PNG image of a QR code for ``data``. Raises ValueError when ``data`` is too long."""
    image = _code(data).make_image(image_factory=PilImage)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def qr_svg(data: str) -> str:
    """An SVG document (one path) of a QR code for ``data``. Raises ValueError when too long."""
    # SvgPathImage with a white background: a code on a transparent background does not scan
    # when the page behind it is dark.
    image = _code(data).make_image(image_factory=SvgPathFillImage)
    return str(image.to_string(encoding="unicode"))
