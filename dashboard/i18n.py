"""Languages: English and Simplified Chinese, chosen per request.

Order: ``?lang=`` (remembered for the session; the UI's language links and a portal both use it),
the ``X-Taskdeck-Language`` header (a portal's proxy), the session, then ``Accept-Language``.
"""

from __future__ import annotations

from flask import request, session

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
    """The locale for this request (Flask-Babel's locale selector)."""
    chosen = _known(request.args.get("lang"))
    if chosen:
        session["lang"] = chosen
        return chosen
    chosen = _known(request.headers.get(HEADER)) or _known(session.get("lang"))
    if chosen:
        return chosen
    best = request.accept_languages.best_match(["en", "zh_CN", "zh", "zh_Hans", "zh-CN"])
    return _known(best) or "en"
