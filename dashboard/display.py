"""Small display helpers for templates: relative times an operator can read at a glance."""

from __future__ import annotations

from datetime import UTC, datetime

from markupsafe import Markup, escape

from .i18n import localtime


def reltime(value, now: datetime | None = None) -> Markup | str:
    """``<time datetime=ISO title=exact>3 minutes ago</time>`` for a datetime or ISO string (naive: UTC).

    The relative text and the exact time both follow the current locale; non-datetimes pass
    through as text, ``None`` renders as nothing.
    """
    from flask_babel import format_timedelta

    if isinstance(value, str) and value:
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
