"""Languages: English and Simplified Chinese, chosen per request.

Order: ``?lang=`` (remembered for the session; the UI's language links and a portal both use it),
the ``X-Taskdeck-Language`` header (a portal's proxy), the session, then ``Accept-Language``.
"""

from __future__ import annotations

from pathlib import Path

import flask_babel
from babel import Locale, support
from flask import has_request_context, request, session
from flask_babel import Babel, Domain, force_locale, get_locale
from pytz import timezone

LANGUAGES = {"en": "English", "zh_CN": "简体中文"}
HEADER = "X-Taskdeck-Language"


def _known(value: str | None) -> str | None:
    if not value:
        return None
    value = value.replace("-", "_")
    for code in LANGUAGES:
        if value.lower() == code.lower():
            return code
    if value.lower().startswith("zh"):
        return "zh_CN"
    if value.lower().startswith("en"):
        return "en"
    return None


def select_locale() -> str:
    """The locale for this request (Flask-Babel's locale selector); English outside a request."""
    if not has_request_context():
        return "en"
    chosen = _known(request.args.get("lang"))
    if chosen:
        session["lang"] = chosen
        return chosen
    chosen = _known(request.headers.get(HEADER)) or _known(session.get("lang"))
    if chosen:
        return chosen
    best = request.accept_languages.best_match(["en", "zh_CN", "zh", "zh_Hans", "zh-CN"])
    return _known(best) or "en"


def in_english(text) -> str:
    """``text`` (a lazy message, or anything holding one) rendered in English.

    For what stays English whatever the request's language: the JSON API's error messages, and
    texts it shares with the pages. Outside a request everything is English anyway.
    """
    with force_locale("en"):
        return str(text)


def number(value, digits: int | None = None) -> str:
    """A number for the current locale (grouping, decimal sign); non-numbers pass through."""
    from flask_babel import format_decimal

    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    if digits is not None:
        return format_decimal(value, format="#,##0." + "0" * digits if digits else "#,##0")
    return format_decimal(value)


def localtime(value, fmt: str = "medium") -> str:
    """A datetime for the current locale in the operator's time zone (``BABEL_DEFAULT_TIMEZONE``).

    Naive values are taken as UTC, as everything stored is UTC; strings pass through unchanged.
    """
    from datetime import UTC, datetime

    from flask_babel import format_datetime

    if not isinstance(value, datetime):
        return "" if value is None else str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return format_datetime(value, fmt)


def cron_locale() -> str:
    """cron-descriptor's locale code for the current language."""
    return "zh_CN" if str(get_locale() or "en").startswith("zh") else "en_US"


class CatalogueDomain(Domain):
    """Flask-Babel's message domain, finding ``translations/zh_CN`` for Babel's ``zh_Hans_CN``.

    Babel names Simplified Chinese with its script (``zh_Hans_CN``), which gettext's file lookup
    expands only to ``zh_Hans_CN`` and ``zh``; the catalogue lives under the usual ``zh_CN``.
    """

    def get_translations(self):
        locale = get_locale()
        if locale is None:
            return support.NullTranslations()
        key = (str(locale), self.domain[0])
        if key not in self.cache:
            codes = [str(locale)]
            if locale.territory:
                codes.append(f"{locale.language}_{locale.territory}")
            translations = support.Translations()
            for dirname in self.translation_directories:
                catalogue = support.Translations.load(dirname, codes, self.domain[0])
                translations.merge(catalogue)
                if hasattr(catalogue, "plural"):
                    translations.plural = catalogue.plural
            self.cache[key] = translations
        return self.cache[key]


TRANSLATIONS = str(Path(__file__).resolve().parent.parent / "translations")
DOMAIN = CatalogueDomain(translation_directories=[TRANSLATIONS])


def install(babel: Babel) -> None:
    """Use :class:`CatalogueDomain` as the default message domain of a Babel the dashboard set up."""
    babel.domain_instance = DOMAIN


def enter_request(time_zone: str) -> None:
    """``before_request`` of the dashboard's routes: its catalogue, its language choice and the
    operator's time zone for this request, whatever Flask-Babel (and locale selector) a host has.

    Flask-Babel keeps them per request (``g``); a host's own routes never see these.
    """
    DOMAIN.as_default()
    context = flask_babel._get_current_context()  # Flask-Babel's per-request cache (flask_babel 4)
    context.babel_locale = Locale.parse(select_locale())
    context.babel_tzinfo = timezone(time_zone)
    context.__dict__.pop("babel_translations", None)


def language_code(locale) -> str:
    """The key of :data:`LANGUAGES` for a Babel locale (``zh_Hans_CN`` → ``zh_CN``)."""
    return _known(str(locale or "en")) or "en"
