"""The reader's language: which one a page is shown in, how to switch, and localised values.

The public pages (verify, wallet report, match, errors), the worker's wallet pages and the
printable certificate are translated into the languages in ``LANGUAGES``; one catalogue in
``verifier/translations`` serves both apps (the issuer may use the verifier's files, never the
reverse). The language is, in order: ``?lang=xx`` on any page (which also remembers it), the
cookie the switcher sets, the browser's Accept-Language, English. Only the known codes are
ever used, so the parameter and the cookie cannot put anything else into a page or a header.

Dates and numbers are formatted with Babel in the same language. Credentials may carry their
own translations (VC 2.0 language value objects, OB 3.0 ``related`` achievements with
``inLanguage``); ``localized`` picks the reader's one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from babel import Locale
from babel.dates import format_date, format_time
from babel.numbers import format_decimal
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    has_request_context,
    redirect,
    request,
    url_for,
)
from flask_babel import Babel, get_locale
from flask_babel import gettext as babel_gettext

#: The languages the public pages are translated into; the first is the default.
LANGUAGES = ("en", "ar", "uk", "es", "fr")
DEFAULT = LANGUAGES[0]
#: Each language's name in itself, as the switcher shows it (never translated).
NATIVE_NAMES = {
    "en": "English",
    "ar": "العربية",
    "uk": "Українська",
    "es": "Español",
    "fr": "Français",
}
RIGHT_TO_LEFT = frozenset({"ar"})
COOKIE = "tessera_lang"
COOKIE_MAX_AGE = 365 * 24 * 60 * 60  # a year: a reader's language rarely changes
TRANSLATIONS = Path(__file__).parent / "translations"
#: app.extensions key: blueprints whose pages stay in English (the staff pages, for now).
ENGLISH_ONLY = "tessera.english_only"

bp = Blueprint("i18n", __name__)


# -- which language -----------------------------------------------------------------------------


def _known(code: object) -> str | None:
    """``code`` when it is one of ours (case-insensitive), else None: nothing else gets through."""
    if not isinstance(code, str):
        return None
    code = code.strip().lower()
    return code if code in LANGUAGES else None


def _english_only() -> bool:
    return request.blueprint in current_app.extensions.get(ENGLISH_ONLY, frozenset())


def choose_language() -> str:
    """The reader's language: ``?lang``, then the cookie, then Accept-Language, then English."""
    if not has_request_context():
        return DEFAULT
    g.tessera_language_chosen = True  # the response now depends on these headers: Vary
    if _english_only():
        return DEFAULT
    chosen = _known(request.args.get("lang")) or _known(request.cookies.get(COOKIE))
    return chosen or request.accept_languages.best_match(LANGUAGES, default=DEFAULT) or DEFAULT


def current_language() -> str:
    """The language of this page (English outside a request)."""
    if not has_request_context() or (locale := get_locale()) is None:
        return DEFAULT
    return _known(str(locale)) or DEFAULT


def direction(language: str | None = None) -> str:
    """``rtl`` for a right-to-left language, else ``ltr`` (for ``<html dir>``)."""
    return "rtl" if (language or current_language()) in RIGHT_TO_LEFT else "ltr"


def gettext(message: str, **variables: Any) -> str:
    """``message`` in the reader's language, then ``%(name)s`` filled in (English outside apps)."""
    if has_request_context() and "babel" in current_app.extensions:
        return babel_gettext(message, **variables)
    return message % variables if variables else message


# -- remembering the choice -----------------------------------------------------------------------


def _secure() -> bool:
    return request.is_secure or bool(current_app.config.get("SESSION_COOKIE_SECURE"))


def _remember(response: Response, language: str) -> None:
    response.set_cookie(
        COOKIE,
        language,
        max_age=COOKIE_MAX_AGE,
        secure=_secure(),
        httponly=True,
        samesite="Lax",
    )


def _after_request(response: Response) -> Response:
    asked = _known(request.args.get("lang"))
    remembered = request.cookies.get(COOKIE) == asked or request.endpoint == "i18n.choose"
    if asked is not None and not remembered and not _english_only():
        _remember(response, asked)
    if g.get("tessera_language_chosen"):
        # Shared caches must not serve one reader's language to another.
        response.vary.update(("Accept-Language", "Cookie"))
    return response


def _local_path(target: object) -> str | None:
    """``target`` when it is a path on this site (no scheme, host or ``//``), else None."""
    if not isinstance(target, str) or len(target) > 2_000 or not target.startswith("/"):
        return None
    if target.startswith("//") or "\\" in target or any(ord(c) < 32 for c in target):
        return None
    return target


@bp.get("/language")
def choose() -> Response:
    """The switcher: remember ``lang`` in a cookie, then go back to ``next`` (a local path)."""
    language = _known(request.args.get("lang"))
    back = _local_path(request.args.get("next")) or url_for("pages.verify")
    response = redirect(back, HTTPStatus.SEE_OTHER)
    if language is not None:
        _remember(response, language)
    response.headers["Cache-Control"] = "no-store"
    return response


@dataclass(frozen=True, slots=True)
class LanguageLink:
    code: str
    name: str  # in the language itself
    url: str
    current: bool


def language_links() -> list[LanguageLink]:
    """The switcher's links: each sets the cookie and comes back to this page (GET only)."""
    here = current_language()
    back = request.path
    if request.method == "GET":
        query = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
        back += f"?{urlencode(query, safe=':/')}" if query else ""
    return [
        LanguageLink(
            code=code,
            name=NATIVE_NAMES[code],
            url=url_for("i18n.choose", lang=code, next=back),
            current=code == here,
        )
        for code in LANGUAGES
    ]


def _template_context() -> dict[str, Any]:
    if not has_request_context():
        return {"page_language": DEFAULT, "page_direction": "ltr", "language_links": []}
    language = current_language()
    return {
        "page_language": language,
        "page_direction": direction(language),
        # The staff pages stay English for now: no switcher there.
        "language_links": [] if _english_only() else language_links(),
    }


# -- dates and numbers -----------------------------------------------------------------------------


def _babel_locale() -> Locale:
    return Locale.parse(current_language())


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def long_date(moment: datetime) -> str:
    """``15 January 2026`` / ``15 de enero de 2026`` / ``15 يناير 2026``: the UTC day."""
    moment = _utc(moment)
    if current_language() == "en":
        return f"{moment.day} {moment:%B %Y}"  # day first: unambiguous wherever read
    return format_date(moment.date(), "long", locale=_babel_locale())


def long_datetime(moment: datetime) -> str:
    """``15 January 2026, 09:30 UTC`` in the reader's language (always UTC, 24-hour)."""
    moment = _utc(moment)
    time = format_time(moment, "HH:mm", tzinfo=UTC, locale=_babel_locale())
    if direction() == "rtl":
        # "09:30 UTC" isolated left to right (U+2066 … U+2069), after an Arabic comma: else
        # the bidi algorithm shows "UTC 09:30".
        return f"{long_date(moment)}، \u2066{time} UTC\u2069"
    return f"{long_date(moment)}, {time} UTC"


def number(value: int | float) -> str:
    """``1,000`` / ``1 000`` / ``1.000``: grouped the reader's way, in Western digits."""
    return format_decimal(value, locale=_babel_locale())


# -- a credential's own translations --------------------------------------------------------------


def _primary(tag: object) -> str | None:
    """``ar`` of ``ar-EG``: the language part of a BCP 47 tag, lower case."""
    if not isinstance(tag, str) or not tag.strip():
        return None
    return tag.strip().split("-")[0].split("_")[0].lower()


def _values(value: object) -> Iterable[tuple[str | None, str]]:
    """(language or None, text) of a plain string, a language value object, or a list of them."""
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str):
            yield None, item
        elif isinstance(item, Mapping) and isinstance(item.get("@value"), str):
            yield _primary(item.get("@language")), item["@value"]


def localized(value: object, language: str, *, default_language: str | None = None) -> str | None:
    """The text of ``value`` in ``language`` when it has one, else its default text.

    ``value`` is what a credential says: a plain string, a VC 2.0 language value object
    (``{"@value": …, "@language": "ar", "@direction": "rtl"}``) or a list of those. Plain
    strings are in ``default_language`` (an achievement's ``inLanguage``) when given. The
    default is the plain string, else the English value, else the first one. Blank texts
    and anything else are ignored; None when nothing is left.
    """
    found = [(lang or _primary(default_language), text) for lang, text in _values(value)]
    found = [(lang, text) for lang, text in found if text.strip()]
    if not found:
        return None
    wanted = _primary(language)
    for lang, text in found:
        if lang == wanted:
            return text
    plain = [text for lang, text in _values(value) if lang is None and text.strip()]
    english = [text for lang, text in found if lang == "en"]
    return (plain or english or [found[0][1]])[0]


def related_translation(achievement: Mapping[str, Any], language: str) -> Mapping[str, Any] | None:
    """The OB 3.0 ``related`` entry of ``achievement`` in ``language`` that carries a name.

    OB 3.0 lets an achievement list ``related`` achievements, each with its ``inLanguage``,
    for the same achievement in other languages. The spec's Related object is a reference;
    issuers that embed the related achievement's ``name``/``description`` can be shown in
    the reader's language without fetching anything (we never fetch a credential's links).
    """
    wanted = _primary(language)
    if _primary(achievement.get("inLanguage")) == wanted:
        return None  # the achievement itself is in the reader's language
    related = achievement.get("related")
    for entry in related if isinstance(related, list) else [related]:
        if (
            isinstance(entry, Mapping)
            and _primary(entry.get("inLanguage")) == wanted
            and localized(entry.get("name"), language)
        ):
            return entry
    return None


# -- wiring -------------------------------------------------------------------------------------


def keep_english(app: Flask, *blueprints: str) -> None:
    """Show the pages of ``blueprints`` in English whatever the reader's language."""
    app.extensions[ENGLISH_ONLY] = frozenset(app.extensions.get(ENGLISH_ONLY, ())) | set(blueprints)


def init_app(app: Flask) -> None:
    """Flask-Babel with our catalogue and language choice, the switcher, and template helpers."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "UTC")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    Babel(app, locale_selector=choose_language)
    app.register_blueprint(bp)
    app.after_request(_after_request)
    app.context_processor(_template_context)
    app.add_template_filter(number, "number")
    from .messages import say, status_phrase  # they use this module: imported once it is

    app.add_template_filter(say, "say")
    app.add_template_global(status_phrase, "status_phrase")
    app.add_template_filter(long_date, "long_date")
