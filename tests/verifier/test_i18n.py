"""The public pages in the reader's language: English, Arabic (right to left), Ukrainian,
Spanish and French; the catalogues that say them; dates; and a credential's own translations."""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
from email import policy
from email.parser import BytesParser
from http import HTTPStatus
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from issuer import claims, mail
from issuer.unit_of_work import transaction
from verifier import i18n
from verifier.app import create_verifier_app

from ..conftest import PUBLIC_URL, issue_to_amina
from ..helpers import make_credential, make_signer, signed_json

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = ROOT / "verifier" / "translations"
TRANSLATED = ("ar", "uk", "es", "fr")
#: The templates (and code) of the pages a worker or an employer reads: every message in them
#: must be translated into every language.
PUBLIC_SOURCES = (
    *sorted((ROOT / "verifier" / "templates").glob("*.html")),
    *sorted((ROOT / "issuer" / "templates").glob("wallet*.html")),
    ROOT / "issuer" / "templates" / "claim_gone.html",
    ROOT / "issuer" / "templates" / "certificate.html",
    ROOT / "issuer" / "certificate.py",
    # Messages made in Python and shown on those pages (verdict reasons, form errors, e-mail).
    *sorted((ROOT / "verifier").glob("*.py")),
    ROOT / "issuer" / "wallet.py",
    ROOT / "issuer" / "worker.py",
    ROOT / "issuer" / "mail.py",
)
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")

#: The verify page's heading, as a reader of each language sees it.
CHECK_A_CREDENTIAL = {
    "en": "Check a credential",
    "ar": "التحقق من شهادة",
    "uk": "Перевірити документ",
    "es": "Comprobar una credencial",
    "fr": "Vérifier un certificat",
}
VALID = {"en": "Valid", "ar": "صالحة", "uk": "Чинний", "es": "Válida", "fr": "Valide"}


def text(response) -> str:
    without_tags = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return re.sub(r"\s+", " ", html.unescape(without_tags))


def language_cookie(response) -> list[str]:
    return [c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"{i18n.COOKIE}=")]


def html_tag(response) -> str:
    found = re.search(r"<html[^>]*>", response.get_data(as_text=True))
    assert found
    return found.group(0)


def first(pattern: str, response) -> str:
    found = re.search(pattern, response.get_data(as_text=True), re.DOTALL)
    assert found, response.get_data(as_text=True)[:1500]
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip()


def heading(response) -> str:
    return first(r"<h1[^>]*>(.*?)</h1>", response)


@pytest.fixture
def verifier():
    """The standalone verifier (no database): the public pages alone."""
    app = create_verifier_app({"TESTING": True, "SECRET_KEY": "test", "WTF_CSRF_ENABLED": False})
    return app.test_client()


@pytest.fixture
def issued(db, kek, centre, welding, now):
    return issue_to_amina(db, kek, centre, welding, now).record


# -- which language ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("ar", "ar"),
        ("ar-EG,ar;q=0.9,en;q=0.5", "ar"),
        ("uk-UA", "uk"),
        ("es-MX,es;q=0.9", "es"),
        ("de-DE,fr;q=0.7,en;q=0.3", "fr"),  # German is not offered: the next one that is
        ("de-DE", "en"),
        ("", "en"),
    ],
)
def test_the_browser_language_picks_the_page_language(verifier, accept, expected):
    headers = {"Accept-Language": accept} if accept else {}
    response = verifier.get("/verify", headers=headers)
    assert response.status_code == HTTPStatus.OK
    assert f'lang="{expected}"' in html_tag(response)
    assert heading(response) == CHECK_A_CREDENTIAL[expected]
    # A cache must not hand this page to a reader of another language.
    assert {"Accept-Language", "Cookie"} <= set(response.vary)


def test_arabic_pages_read_right_to_left_and_others_left_to_right(verifier):
    assert 'dir="rtl"' in html_tag(verifier.get("/verify", headers={"Accept-Language": "ar"}))
    for language in ("en", "uk", "es", "fr"):
        page = verifier.get("/verify", headers={"Accept-Language": language})
        assert 'dir="ltr"' in html_tag(page), language


def test_lang_in_the_address_wins_and_is_remembered_for_a_year(verifier):
    response = verifier.get("/verify?lang=uk", headers={"Accept-Language": "fr"})
    assert heading(response) == CHECK_A_CREDENTIAL["uk"]
    [cookie] = language_cookie(response)
    assert cookie.startswith(f"{i18n.COOKIE}=uk;")
    assert "Max-Age=31536000" in cookie
    assert "SameSite=Lax" in cookie
    assert "HttpOnly" in cookie
    assert "Secure" not in cookie  # plain http here; over https it is Secure (next test)
    # The cookie now beats the browser's language on every page.
    again = verifier.get("/verify", headers={"Accept-Language": "fr"})
    assert heading(again) == CHECK_A_CREDENTIAL["uk"]
    assert not language_cookie(again)  # nothing new to remember


def test_over_https_the_language_cookie_is_secure(verifier):
    response = verifier.get("/verify?lang=es", base_url="https://localhost")
    [cookie] = language_cookie(response)
    assert "Secure" in cookie


def test_the_cookie_beats_the_browser_language(verifier):
    verifier.set_cookie(i18n.COOKIE, "fr")
    response = verifier.get("/verify", headers={"Accept-Language": "ar"})
    assert heading(response) == CHECK_A_CREDENTIAL["fr"]
    assert 'dir="ltr"' in html_tag(response)


@pytest.mark.parametrize(
    "bad", ["de", "xx", '"><script>alert(1)</script>', "ar;x=1", "a" * 300, "../en"]
)
def test_unknown_language_codes_are_ignored_and_never_echoed(verifier, bad):
    verifier.set_cookie(i18n.COOKIE, bad)
    response = verifier.get(
        "/verify", query_string={"lang": bad}, headers={"Accept-Language": "es"}
    )
    assert response.status_code == HTTPStatus.OK
    assert heading(response) == CHECK_A_CREDENTIAL["es"]  # the browser's choice stands
    assert not language_cookie(response)
    assert "<script>alert" not in response.get_data(as_text=True)
    assert 'lang="es"' in html_tag(response)


def test_the_switcher_sets_the_cookie_and_comes_back(verifier):
    page = verifier.get("/verify", headers={"Accept-Language": "ar"})
    links = dict(
        re.findall(r'<a href="([^"]+)" lang="(\w+)" hreflang="\w+"', page.get_data(as_text=True))
    )
    links = {code: html.unescape(url) for url, code in links.items()}
    assert set(links) == set(i18n.LANGUAGES)
    assert 'aria-current="true">العربية</a>' in page.get_data(as_text=True)
    response = verifier.get(links["en"])
    assert response.status_code == HTTPStatus.SEE_OTHER
    assert response.headers["Location"] == "/verify"
    [cookie] = language_cookie(response)
    assert cookie.startswith(f"{i18n.COOKIE}=en;")
    english = verifier.get("/verify", headers={"Accept-Language": "ar"})
    assert heading(english) == CHECK_A_CREDENTIAL["en"]
    assert 'dir="ltr"' in html_tag(english)


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "javascript:alert(1)", "/\\evil"]
)
def test_the_switcher_only_goes_back_to_this_site(verifier, target):
    response = verifier.get("/language", query_string={"lang": "fr", "next": target})
    assert response.status_code == HTTPStatus.SEE_OTHER
    assert response.headers["Location"] == "/verify"


def test_the_switcher_ignores_an_unknown_language(verifier):
    response = verifier.get("/language", query_string={"lang": "xx", "next": "/match"})
    assert response.headers["Location"] == "/match"
    assert not language_cookie(response)


def test_the_switcher_keeps_the_pages_query_but_not_its_lang(verifier):
    page = verifier.get("/match?profile=catalogue:welder&lang=es")
    [url] = re.findall(r'<a href="([^"]+)" lang="fr"', page.get_data(as_text=True))
    back = verifier.get(html.unescape(url)).headers["Location"]
    assert back == "/match?profile=catalogue:welder"


# -- each page in each language ---------------------------------------------------------------


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_the_verdict_is_given_in_the_readers_language(client, issued, language):
    response = client.get(
        f"/v/{issued.public_id}",
        headers={"Accept": "text/html", "Accept-Language": language},
    )
    assert first(r'<h1 id="verdict-title"[^>]*>(.*?)</h1>', response) == VALID[language]
    assert f'lang="{language}"' in html_tag(response)
    expected_dir = "rtl" if language == "ar" else "ltr"
    assert f'dir="{expected_dir}"' in html_tag(response)


def test_the_arabic_verify_page_keeps_identifiers_left_to_right(client, issued, centre):
    page = client.get(f"/v/{issued.public_id}", headers={"Accept-Language": "ar"})
    body = page.get_data(as_text=True)
    assert f'<code class="identifier" dir="ltr">{centre.did}</code>' in body
    assert f'dir="ltr">{PUBLIC_URL}/v/{issued.public_id}</code>' in body
    assert "صاحب الشهادة" in text(page)  # "Holder"
    assert "Amina Haddad" in text(page)  # what the credential says is never translated


def test_dates_are_written_the_readers_way(client, issued):
    spanish = text(client.get(f"/v/{issued.public_id}", headers={"Accept-Language": "es"}))
    assert "15 de enero de 2026, 09:30 UTC" in spanish
    french = text(client.get(f"/v/{issued.public_id}", headers={"Accept-Language": "fr"}))
    assert "15 janvier 2026, 09:30 UTC" in french
    ukrainian = text(client.get(f"/v/{issued.public_id}", headers={"Accept-Language": "uk"}))
    assert "15 січня 2026" in ukrainian
    arabic = text(client.get(f"/v/{issued.public_id}", headers={"Accept-Language": "ar"}))
    assert "يناير" in arabic
    english = client.get(f"/v/{issued.public_id}", headers={"Accept-Language": "en"})
    assert "15 January 2026, 09:30 UTC" in text(english)
    # The machine-readable date stays ISO whatever the language.
    assert 'datetime="2026-01-15T09:30:00Z"' in english.get_data(as_text=True)


def test_numbers_are_grouped_the_readers_way(verifier):
    assert "1,000 credentials" in text(verifier.get("/match", headers={"Accept-Language": "en"}))
    french = text(verifier.get("/match", headers={"Accept-Language": "fr"}))
    assert re.search(r"1\s000 certificats", french)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("ar", "لم نعثر على هذه الشهادة"),
        ("uk", "Ми не знайшли цей документ"),
        ("es", "No encontramos esta credencial"),
        ("fr", "Nous n'avons pas trouvé ce certificat"),
    ],
)
def test_the_not_found_page_is_translated(client, language, expected):
    response = client.get(
        "/v/nothing-here", headers={"Accept": "text/html", "Accept-Language": language}
    )
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert heading(response) == expected


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("ar", "المطابقة مع وظيفة"),
        ("uk", "Порівняти з вакансією"),
        ("es", "Comparar con un empleo"),
    ],
)
def test_the_match_page_is_translated(verifier, language, expected):
    assert heading(verifier.get("/match", headers={"Accept-Language": language})) == expected


def test_a_wallet_report_is_translated(verifier):
    wallet = io.BytesIO()
    with zipfile.ZipFile(wallet, "w") as archive:
        archive.writestr("a.json", json.dumps(make_credential()))  # unsigned: invalid
        archive.writestr("b.json", json.dumps(make_credential()))
    response = verifier.post(
        "/verify",
        data={"file": (io.BytesIO(wallet.getvalue()), "wallet.zip")},
        headers={"Accept-Language": "ar"},
        content_type="multipart/form-data",
    )
    assert response.status_code == HTTPStatus.OK
    assert first(r'<h1 id="verdict-title"[^>]*>(.*?)</h1>', response) == "0 من 2 شهادات صالحة"
    assert "غير صالحة" in text(response)  # each row's "Invalid"
    assert 'dir="rtl"' in html_tag(response)


def test_the_workers_wallet_pages_are_translated(client, db, issued, now):
    assert heading(client.get("/wallet", headers={"Accept-Language": "uk"})) == (
        "Відкрийте гаманець за своїм посиланням"
    )
    with transaction(db):
        token = claims.new_claim_token(db, issued, now=now)
    client.get(f"/claim/{token}")
    page = client.get("/wallet", headers={"Accept-Language": "es"})
    assert heading(page) == "Tus credenciales, Amina Haddad"
    assert "Emitida el 15 de enero de 2026." in text(page)
    assert "Llévalas contigo" in text(page)


def test_the_staff_pages_stay_english_for_now(client):
    response = client.get("/login", headers={"Accept-Language": "ar"})
    assert 'lang="en"' in html_tag(response)
    assert 'dir="ltr"' in html_tag(response)
    assert 'hreflang="ar"' not in response.get_data(as_text=True)  # no switcher


# -- the printable certificate ------------------------------------------------------------------


def test_the_certificate_in_arabic_reads_right_to_left(client, db, issued, now):
    with transaction(db):
        token = claims.new_claim_token(db, issued, now=now)
    client.get(f"/claim/{token}")
    page = client.get(
        f"/wallet/c/{issued.public_id}/certificate", headers={"Accept-Language": "ar"}
    )
    assert page.status_code == HTTPStatus.OK
    assert '<html lang="ar" dir="rtl">' in page.get_data(as_text=True)
    assert "شهادة كفاءة" in text(page)  # "Certificate of competency"
    assert "15 يناير 2026" in text(page)
    pdf = client.get(
        f"/wallet/c/{issued.public_id}/certificate.pdf", headers={"Accept-Language": "es"}
    ).data
    assert pdf.startswith(b"%PDF-")
    assert b"/Lang (es)" in pdf
    from ..issuer.test_certificate import _text  # the PDF text reader of the certificate tests

    assert "CERTIFICADO DE COMPETENCIA" in _text(pdf)
    assert "15 de enero de 2026" in _text(pdf)
    arabic = client.get(
        f"/wallet/c/{issued.public_id}/certificate.pdf", headers={"Accept-Language": "ar"}
    ).data
    assert b"/Lang (ar)" in arabic
    assert len(re.findall(rb"/Type /Page\b", arabic)) == 1


# -- the catalogues ----------------------------------------------------------------------------


def _po(language: str):
    with open(CATALOGUES / language / "LC_MESSAGES" / "messages.po", "rb") as po:
        return read_po(po, locale=language)


def _public_messages() -> set[str]:
    found = set()
    for source in PUBLIC_SOURCES:
        method = "python" if source.suffix == ".py" else "jinja2"
        for _line, message, _comments, _context in extract_from_file(
            method,
            str(source),
            keywords={"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "Nn_": (1, 2)},
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


def _translated(message) -> bool:
    """Whether a catalogue entry has its translation (every form of a plural one)."""
    forms = message.string if isinstance(message.string, list | tuple) else [message.string]
    return bool(message.id) and all(forms)


def _entries(messages) -> dict:
    """msgid -> msgstr of the translated entries, plural ones as tuples (.po and .mo alike)."""
    key = lambda value: tuple(value) if isinstance(value, list | tuple) else value  # noqa: E731
    return {key(m.id): key(m.string) for m in messages if _translated(m)}


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_compiled_catalogue_matches_its_source(language):
    source = _entries(_po(language))
    with open(CATALOGUES / language / "LC_MESSAGES" / "messages.mo", "rb") as mo:
        compiled = _entries(read_mo(mo))
    assert compiled == source, "run: pybabel compile -d verifier/translations"


def test_every_message_of_the_public_pages_is_translated():
    messages = _public_messages()
    assert "Check a credential" in messages and len(messages) > 200
    for language in TRANSLATED:
        catalogue = _po(language)
        missing = sorted(
            m for m in messages if not (catalogue.get(m) and _translated(catalogue.get(m)))
        )
        assert not missing, f"{language}: translate {missing}"
        fuzzy = sorted(m for m in messages if catalogue.get(m) and catalogue.get(m).fuzzy)
        assert not fuzzy, f"{language}: check the guessed translations of {fuzzy}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_every_placeholder(language):
    for message in _po(language):
        if not _translated(message):
            continue
        if isinstance(message.id, list | tuple):  # plural: a form may leave the number out
            wanted = set().union(*(PLACEHOLDER.findall(i) for i in message.id))
            for form in message.string:
                found = set(PLACEHOLDER.findall(form))
                assert found <= wanted and wanted - {"num"} <= found, (language, message.id)
        else:
            assert set(PLACEHOLDER.findall(message.string)) == set(
                PLACEHOLDER.findall(message.id)
            ), (language, message.id)


# -- a credential's own translations -----------------------------------------------------------


LANGUAGE_VALUES = [
    {"@value": "Perform MAG welding", "@language": "en"},
    {"@value": "لحام MAG", "@language": "ar", "@direction": "rtl"},
    {"@value": "Soudage MAG", "@language": "fr-FR"},
]


def test_localized_picks_the_readers_language_or_the_default():
    assert i18n.localized(LANGUAGE_VALUES, "ar") == "لحام MAG"
    assert i18n.localized(LANGUAGE_VALUES, "fr") == "Soudage MAG"  # fr-FR serves fr
    assert i18n.localized(LANGUAGE_VALUES, "uk") == "Perform MAG welding"  # English default
    assert i18n.localized({"@value": "Soldadura", "@language": "es"}, "fr") == "Soldadura"
    assert i18n.localized(["Plain", {"@value": "Soldadura", "@language": "es"}], "uk") == "Plain"
    assert i18n.localized("Plain", "ar") == "Plain"
    assert i18n.localized("Soudage", "fr", default_language="fr") == "Soudage"
    assert i18n.localized([{"@value": 3}, {"nope": "x"}, 7, None], "en") is None


def _paste(verifier, credential, language):
    return verifier.post(
        "/verify",
        data={"credential": json.dumps(credential)},
        headers={"Accept-Language": language},
    )


def _with_achievement(**fields):
    credential = make_credential()
    credential["credentialSubject"]["achievement"].update(fields)
    return credential


def test_an_achievement_name_in_language_values_is_shown_in_the_readers_language(verifier):
    credential = _with_achievement(
        name=LANGUAGE_VALUES,
        description=[
            {"@value": "Lays welds.", "@language": "en"},
            {"@value": "Réalise des soudures.", "@language": "fr"},
        ],
    )
    competency = r'<h2 id="competency-title"[^>]*>(.*?)</h2>'
    assert first(competency, _paste(verifier, credential, "ar")) == "لحام MAG"
    french = _paste(verifier, credential, "fr")
    assert first(competency, french) == "Soudage MAG"
    assert "Réalise des soudures." in text(french)
    assert first(competency, _paste(verifier, credential, "es")) == "Perform MAG welding"


def test_a_related_achievement_in_the_readers_language_gives_its_name(verifier):
    credential = _with_achievement(
        inLanguage="en",
        related=[
            {
                "id": "https://tessera.test/orgs/northside/achievements/1/uk",
                "type": ["Related"],
                "inLanguage": "uk-UA",
                "name": "Зварювання MAG",
                "description": "Виконує зварні шви.",
            }
        ],
    )
    competency = r'<h2 id="competency-title"[^>]*>(.*?)</h2>'
    ukrainian = _paste(verifier, credential, "uk")
    assert first(competency, ukrainian) == "Зварювання MAG"
    assert "Виконує зварні шви." in text(ukrainian)
    english = _paste(verifier, credential, "en")
    assert first(competency, english) == "Perform MAG welding on structural steel"


def test_a_credential_issued_here_keeps_its_plain_strings(client, issued):
    page = client.get(f"/v/{issued.public_id}", headers={"Accept-Language": "ar"})
    assert first(r'<h2 id="competency-title"[^>]*>(.*?)</h2>', page) == "Perform MAG welding"


def test_outside_a_request_messages_are_english():
    assert i18n.gettext("Valid") == "Valid"
    assert i18n.gettext("Issued on %(date)s.", date="x") == "Issued on x."
    assert i18n.current_language() == "en"


# -- messages made in Python, said in the reader's language ----------------------------------


def translated(language: str, message: str, **values: object) -> str:
    """``message`` as the catalogue of ``language`` gives it (it must have a translation)."""
    said = Translations.load(str(CATALOGUES), [language]).gettext(message)
    assert said != message, f"{language} has no translation of {message!r}"
    return said % values if values else said


def test_what_failed_is_said_in_the_readers_language_with_the_detail_in_english(verifier):
    tampered = signed_json(make_signer("EdDSA", did="did:key"))
    tampered["credentialSubject"]["achievement"]["name"] = "Forged"
    page = _paste(verifier, tampered, "ar")
    explanation = translated(
        "ar",
        "the signature does not match: the credential was changed after it was signed, or it "
        "was not signed with the issuer's key",
    )
    assert explanation in text(page)
    # The technical words stay English, marked so, and read left to right in the Arabic page.
    detail = first(r'<span class="check__detail" lang="en" dir="ltr">\((.*?)\)</span>', page)
    assert detail.startswith("Data Integrity proof:")


def test_a_check_that_passed_is_said_with_a_localised_date(verifier):
    credential = signed_json(make_signer("EdDSA", did="did:key"))  # valid from 15 January 2026
    page = _paste(verifier, credential, "fr")
    said = translated("fr", "valid from %(moment)s, no expiry", moment="15 janvier 2026, 09:30 UTC")
    assert said in text(page)


def test_a_match_form_error_is_in_the_readers_language(verifier):
    response = verifier.post(
        "/match",
        data={"profile": "catalogue:welder", "files": [(io.BytesIO(b"I can weld"), "cv.txt")]},
        headers={"Accept-Language": "es"},
        content_type="multipart/form-data",
    )
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    why = translated("es", "this is not a well-formed credential")
    start = translated("es", "%(item)s is not a credential: %(why)s", item="cv.txt", why=why)
    alert = first(r'<div class="notice notice--warn" role="alert"[^>]*>(.*?)</div>', response)
    assert start in html.unescape(re.sub(r"<[^>]+>", "", alert))


def test_the_error_page_names_the_status_in_the_readers_language(client):
    response = client.get(
        "/v/nothing-here", headers={"Accept": "text/html", "Accept-Language": "fr"}
    )
    status = translated("fr", "Error %(status)s: %(title)s", status=404, title="")
    assert status + translated("fr", "Not found") in text(response)
    assert "Not Found" not in text(response)


def test_the_achievement_type_is_said_in_the_readers_language(client, issued):
    page = client.get(f"/v/{issued.public_id}", headers={"Accept-Language": "uk"})
    kicker = first(r'<p class="card__kicker achievement-type">(.*?)</p>', page)
    assert kicker == translated("uk", "Job task")


def test_the_wallet_link_email_is_written_in_the_readers_language(app, client, db, issued, now):
    with transaction(db):
        token = claims.new_claim_token(db, issued, now=now)
    client.get(f"/claim/{token}")
    wallet = client.get("/wallet", headers={"Accept-Language": "uk"}).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', wallet)
    assert csrf is not None
    sent = client.post(
        "/wallet/email-link",
        data={"csrf_token": csrf.group(1)},
        headers={"Accept-Language": "uk"},
    )
    assert sent.status_code == HTTPStatus.SEE_OTHER
    (path,) = mail.outbox_messages(app.config)
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert message["Subject"] == translated("uk", "Your credentials: sign-in link")
    body = message.get_body(preferencelist=("plain",)).get_content()
    hello = translated("uk", EMAIL_LINK_BODY).split("\n", 1)[0]
    assert body.startswith(hello) and f"{PUBLIC_URL}/wallet/confirm/" in body


EMAIL_LINK_BODY = (
    "Hello,\n\n"
    "Someone (we hope you) asked to see every credential issued to this e-mail address on "
    "%(site)s.\n\n"
    "Open this link within %(minutes)s minutes to see them all in your wallet:\n\n"
    "%(link)s\n\n"
    "The link works once. If you did not ask for it, ignore this message: nothing happens "
    "unless the link is opened.\n"
)
