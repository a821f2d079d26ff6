"""The portable QR: a QR code that carries a signed VC-JWT itself, restored byte for byte.

A raw Open Badges 3.0 VC-JWT is about 3,000 characters: QR version 39, too dense for a phone
camera reading a phone screen. The portable form is

    "TSR1:" + base45(raw deflate, level 9, preset dictionary v1, of the framed segments)

where the framed segments are the three base64url parts of the JWT *decoded* (header bytes,
payload bytes, signature bytes), each of the first two preceded by its length as two
big-endian bytes, the signature taking the rest. Nothing is re-serialised: re-encoding the
kept bytes as base64url without padding gives the exact token, so the signature still covers
what a verifier restores, and any change to the payload breaks it.

- base45 (RFC 9285, https://www.rfc-editor.org/rfc/rfc9285) uses exactly the QR alphanumeric
  alphabet, so the code is drawn in alphanumeric mode (5.5 bits a character) rather than byte
  mode (8 bits). The prefix is upper case for the same reason.
- The preset dictionary (``data/portable-v1.dict``) holds the vocabulary every Tessera
  credential repeats (contexts, types, member names in the order Tessera writes them, ESCO,
  status list and DID fragments); deflate copies from it instead of spelling it out. It is
  frozen with the ``TSR1`` prefix: a different dictionary is a new prefix (``TSR2``), because
  a QR already printed must decode for ever. Its SHA-256 is pinned below.
- The instance's own URL is not in the dictionary (it varies per deployment and a verifier
  elsewhere cannot know it): deflate already refers back to its first occurrence (the
  header's ``kid``), so each later occurrence costs a few bytes.

Everything here is pure: the QR drawing is the web layer's (``verifier.qr``).
"""

from __future__ import annotations

import binascii
import hashlib
import json
import re
import zlib
from functools import cache
from importlib import resources

from .errors import MalformedCredentialError

#: The prefix of a payload in this format, with its version (dictionary v1, frozen).
PREFIX = "TSR1:"
#: Any portable payload, whichever version: ``TSR`` + a version number + ``:``.
_ANY_VERSION = re.compile(r"^TSR(\d{1,4}):")
#: The largest QR code a portable payload may need: version 25 (117 x 117 modules) at error
#: correction level M still reads from a phone screen with a phone camera.
MAX_QR_VERSION = 25
#: How many alphanumeric characters a version 25 code holds at level M (ISO/IEC 18004 Table 7).
MAX_PAYLOAD_CHARS = 1451
#: The JWT algorithm whose signatures are small enough to travel this way (64 bytes; an RS256
#: signature alone is 256 bytes, so an RS256 credential does not reliably fit).
PORTABLE_ALGORITHM = "EdDSA"
#: Bound on the decompressed size (a real credential is 2-3 kB): a zlib bomb stops here.
MAX_EXPANDED_BYTES = 16 * 1024
#: Bound on the text accepted for decoding: the largest QR code holds 4,296 characters.
MAX_PAYLOAD_LENGTH = 4_296

_DICTIONARY_FILE = "portable-v1.dict"
_DICTIONARY_SHA256 = "4ee22a83dc1dd709756875402aa559a970f577f871a9f0060ab6e20d94a02e4f"
_LEVEL = 9
_WBITS = -15  # raw deflate: no zlib header or checksum, the signature protects the content
_MEM_LEVEL = 9
_LENGTH_BYTES = 2

_BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_BASE45_VALUE = {c: i for i, c in enumerate(_BASE45)}
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]*$")


class PortablePayloadError(MalformedCredentialError):
    """A portable QR payload cannot be decoded (or a token cannot be encoded as one)."""

    code = "malformed-portable-payload"


class UnknownPortableVersionError(PortablePayloadError):
    """The payload names a format version this code does not know."""

    code = "unknown-portable-version"


class NotPortableError(PortablePayloadError):
    """The credential cannot be offered as a portable QR code; the message says why.

    ``reason`` is ``"algorithm"`` (not EdDSA; ``algorithm`` names it) or ``"size"`` (the
    payload would be ``length`` characters), so a page can say it in the reader's language.
    """

    code = "not-portable"

    def __init__(
        self, message: str, *, reason: str, algorithm: str | None = None, length: int = 0
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.algorithm = algorithm
        self.length = length


@cache
def dictionary() -> bytes:
    """The frozen preset dictionary of format version 1.

    Raises:
        PortablePayloadError: the shipped file is not the frozen one (edited or damaged).
    """
    data = resources.files(__package__).joinpath("data", _DICTIONARY_FILE).read_bytes()
    if hashlib.sha256(data).hexdigest() != _DICTIONARY_SHA256:
        raise PortablePayloadError(
            f"the portable QR dictionary {_DICTIONARY_FILE} has been changed; version 1 is "
            "frozen (a new dictionary needs a new prefix)"
        )
    return data


# -- base45 (RFC 9285) ---------------------------------------------------------------------


def base45_encode(data: bytes) -> str:
    """Encode ``data`` as base45 (RFC 9285 §4): two bytes become three characters."""
    out = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        e, rest = divmod(n, 45 * 45)
        d, c = divmod(rest, 45)
        out.append(_BASE45[c] + _BASE45[d] + _BASE45[e])
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        out.append(_BASE45[c] + _BASE45[d])
    return "".join(out)


def base45_decode(text: str) -> bytes:
    """Decode base45 (RFC 9285 §4.2), refusing what the RFC calls invalid.

    Raises:
        PortablePayloadError: a character outside the alphabet, a dangling single
        character, or a group whose value does not fit its bytes.
    """
    if len(text) % 3 == 1:
        raise PortablePayloadError("the portable payload is not valid base45 (its length)")
    try:
        values = [_BASE45_VALUE[c] for c in text]
    except KeyError as e:
        raise PortablePayloadError(
            f"the portable payload has a character base45 does not use: {e.args[0]!r}"
        ) from None
    out = bytearray()
    for i in range(0, len(values), 3):
        group = values[i : i + 3]
        if len(group) == 3:
            n = group[0] + group[1] * 45 + group[2] * 45 * 45
            if n > 0xFFFF:
                raise PortablePayloadError("the portable payload is not valid base45 (a value)")
            out += n.to_bytes(2, "big")
        else:
            n = group[0] + group[1] * 45
            if n > 0xFF:
                raise PortablePayloadError("the portable payload is not valid base45 (a value)")
            out.append(n)
    return bytes(out)


# -- framing: the decoded JWT segments -----------------------------------------------------


def _b64url_encode(data: bytes) -> str:
    return (
        binascii.b2a_base64(data, newline=False)
        .decode("ascii")
        .translate(str.maketrans("+/", "-_"))
        .rstrip("=")
    )


def _b64url_decode(segment: str) -> bytes:
    if not _BASE64URL.match(segment) or len(segment) % 4 == 1:
        raise PortablePayloadError("the token is not a compact JWT of base64url segments")
    padded = segment.translate(str.maketrans("-_", "+/")) + "=" * (-len(segment) % 4)
    return binascii.a2b_base64(padded, strict_mode=True)


def _frame(header: bytes, payload: bytes, signature: bytes) -> bytes:
    limit = 256**_LENGTH_BYTES - 1
    if len(header) > limit or len(payload) > limit:
        raise PortablePayloadError("the token is too large for a portable QR code")
    return (
        len(header).to_bytes(_LENGTH_BYTES, "big")
        + header
        + len(payload).to_bytes(_LENGTH_BYTES, "big")
        + payload
        + signature
    )


def _unframe(frame: bytes) -> tuple[bytes, bytes, bytes]:
    parts = []
    at = 0
    for name in ("header", "payload"):
        if len(frame) < at + _LENGTH_BYTES:
            raise PortablePayloadError(f"the portable payload is cut short before the JWT {name}")
        length = int.from_bytes(frame[at : at + _LENGTH_BYTES], "big")
        at += _LENGTH_BYTES
        if length == 0 or len(frame) < at + length:
            raise PortablePayloadError(f"the portable payload's JWT {name} is cut short or empty")
        parts.append(frame[at : at + length])
        at += length
    return parts[0], parts[1], frame[at:]


# -- deflate with the preset dictionary ----------------------------------------------------


def _compress(data: bytes) -> bytes:
    compressor = zlib.compressobj(
        _LEVEL, zlib.DEFLATED, _WBITS, _MEM_LEVEL, zlib.Z_DEFAULT_STRATEGY, zdict=dictionary()
    )
    return compressor.compress(data) + compressor.flush()


def _decompress(data: bytes) -> bytes:
    decompressor = zlib.decompressobj(_WBITS, zdict=dictionary())
    try:
        # One byte over the bound tells a bomb from a payload of exactly the bound.
        out = decompressor.decompress(data, MAX_EXPANDED_BYTES + 1)
    except zlib.error as e:
        raise PortablePayloadError("the portable payload's compressed data is damaged") from e
    if len(out) > MAX_EXPANDED_BYTES or decompressor.unconsumed_tail:
        raise PortablePayloadError(
            f"the portable payload expands beyond {MAX_EXPANDED_BYTES:,} bytes; no credential "
            "is that large, so it is refused"
        )
    if not decompressor.eof:
        raise PortablePayloadError("the portable payload is cut short (incomplete data)")
    if decompressor.unused_data:
        raise PortablePayloadError("the portable payload has extra data after its end")
    return out


# -- the public surface --------------------------------------------------------------------


def is_portable(text: str) -> bool:
    """True when ``text`` claims to be a portable QR payload (any version, valid or not)."""
    return bool(_ANY_VERSION.match(text))


def encode_portable(token: str) -> str:
    """The portable QR payload carrying ``token`` (a compact JWS) losslessly.

    Any algorithm encodes; whether the result fits a phone-readable QR code is
    :func:`portable_qr_payload`'s question.

    Raises:
        PortablePayloadError: not a compact JWS with canonical base64url segments (such a
        token could not be restored byte for byte), or too large.
    """
    segments = token.split(".")
    if len(segments) != 3 or not segments[0] or not segments[1]:
        raise PortablePayloadError("not a compact JWT: expected three dot-separated parts")
    try:
        decoded = [_b64url_decode(s) for s in segments]
    except binascii.Error as e:
        raise PortablePayloadError("the token's segments are not base64url") from e
    if [_b64url_encode(d) for d in decoded] != segments:
        raise PortablePayloadError(
            "the token's base64url is not canonical, so it could not be restored exactly"
        )
    payload = PREFIX + base45_encode(_compress(_frame(*decoded)))
    if decode_portable(payload) != token:  # pragma: no cover - a bug, not an input error
        raise PortablePayloadError("the portable payload does not restore the token")
    return payload


def decode_portable(unverified_payload: str) -> str:
    """The exact compact JWT a portable QR payload carries; not verified (the pipeline does).

    Raises:
        UnknownPortableVersionError: a ``TSR<n>:`` prefix other than ``TSR1:``.
        PortablePayloadError: anything else wrong: not a portable payload, bad base45,
        damaged, truncated, over-long or over-expanding data, a malformed frame.
    """
    if len(unverified_payload) > MAX_PAYLOAD_LENGTH:
        raise PortablePayloadError(
            f"the portable payload is {len(unverified_payload):,} characters; a QR code holds "
            f"at most {MAX_PAYLOAD_LENGTH:,}"
        )
    version = _ANY_VERSION.match(unverified_payload)
    if version is None:
        raise PortablePayloadError("not a portable QR payload (it must start with TSR1:)")
    if not unverified_payload.startswith(PREFIX):
        raise UnknownPortableVersionError(
            f"portable QR format version {version.group(1)} is not known to this verifier "
            f"(it reads version 1); a newer Tessera may read it"
        )
    frame = _decompress(base45_decode(unverified_payload[len(PREFIX) :]))
    header, payload, signature = _unframe(frame)
    return ".".join(_b64url_encode(part) for part in (header, payload, signature))


def portable_qr_payload(token: str) -> str:
    """The portable payload for ``token`` when it can be offered as a phone-readable QR code.

    Raises:
        NotPortableError: the token is not signed with EdDSA, or its payload needs a QR code
        larger than version 25 at level M; the message says which, in words for a person.
        PortablePayloadError: the token itself cannot be encoded.
    """
    header = token.split(".", 1)[0]
    try:
        algorithm = _algorithm(_b64url_decode(header))
    except binascii.Error as e:
        raise PortablePayloadError("the token's header is not base64url") from e
    if algorithm != PORTABLE_ALGORITHM:
        raise NotPortableError(
            f"its signature uses {algorithm or 'an unknown algorithm'}, whose signatures are "
            "too large for a phone-readable code; the training centre can sign with EdDSA",
            reason="algorithm",
            algorithm=algorithm,
        )
    payload = encode_portable(token)
    if len(payload) > MAX_PAYLOAD_CHARS:
        raise NotPortableError(
            f"it needs {len(payload):,} characters, more than a QR code of version "
            f"{MAX_QR_VERSION} holds ({MAX_PAYLOAD_CHARS:,}); a phone could not read it from "
            "a screen",
            reason="size",
            algorithm=algorithm,
            length=len(payload),
        )
    return payload


def _algorithm(header: bytes) -> str | None:
    """The ``alg`` of a JOSE header, read only to decide whether to offer the QR code."""
    try:
        parsed = json.loads(header)
    except ValueError:
        return None
    algorithm = parsed.get("alg") if isinstance(parsed, dict) else None
    return algorithm if isinstance(algorithm, str) else None
