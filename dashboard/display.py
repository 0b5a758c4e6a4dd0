"""Small display helpers for templates: relative times and spans an operator can read at a glance."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from markupsafe import Markup, escape

from .core.text import safe_json
from .i18n import localtime


def reltime(value, now: datetime | None = None) -> Markup | str:
    """``<time datetime=ISO title=exact>3 minutes ago</time>`` for a datetime, an ISO string
    (naive: UTC) or epoch seconds (as workers report them).

    The relative text and the exact time both follow the current locale; other values pass
    through as text, ``None`` renders as nothing.
    """
    from flask_babel import format_timedelta

    if isinstance(value, int | float) and not isinstance(value, bool):
        value = datetime.fromtimestamp(value, UTC)
    elif isinstance(value, str) and value:
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, datetime):
        return "" if value is None else str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - (now or datetime.now(UTC))
    relative = format_timedelta(delta, threshold=0.9, add_direction=True)
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        value.isoformat(), escape(localtime(value)), relative
    )


SPAN_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def duration(seconds: float | None) -> str:
    """A span in its largest unit and the next, in the current locale's words (CLDR short units):
    "42 sec", "5 min 3 sec", "3 hr 20 min", "2 days 4 hr"; in Chinese "3小时 20分钟". ``None`` is "—".
    """
    from babel.units import format_unit
    from flask_babel import get_locale

    if seconds is None:
        return "—"
    rest = max(0, int(seconds))
    for index, (unit, size) in enumerate(SPAN_UNITS):
        if rest >= size or size == 1:
            shown = [(unit, rest // size)]
            if index + 1 < len(SPAN_UNITS):
                next_unit, next_size = SPAN_UNITS[index + 1]
                shown.append((next_unit, rest % size // next_size))
            break
    locale = get_locale()
    return " ".join(
        format_unit(value, f"duration-{unit}", length="short", locale=locale) for unit, value in shown
    )


def json_text(value: object) -> str:
    """A decoded JSON value (args, kwargs, a result, progress meta) as JSON text for reading.

    A plain ``str``, unlike ``tojson``: Jinja's ``tojson`` marks its output safe and leaves ``"``
    as it is, so inside a double-quoted attribute a value could close it and add attributes of
    its own. Plain text is escaped in every context, and the builtin ``truncate`` cuts it before
    escaping, so never inside an entity. Non-ASCII stays readable; lone surrogates become U+FFFD.
    """
    return safe_json(value)


_SURROGATE = re.compile("[\ud800-\udfff]")


def printable(value: object) -> object:
    """Jinja's ``finalize``: every printed value as text that encodes as UTF-8.

    A lone surrogate is valid in JSON, so it can arrive in args, notes and results, but it has no
    UTF-8 form: printed as it is, one stored value would fail the whole page for every operator.
    It is shown as U+FFFD, as storage does (dashboard/core/text.py); markup stays markup.
    """
    if isinstance(value, str) and _SURROGATE.search(value):
        fixed = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        return Markup(fixed) if isinstance(value, Markup) else fixed  # noqa: S704 - was markup already
    return value
