"""The operator's poll interval for a live region, remembered per browser in a cookie."""

from __future__ import annotations

from flask import request
from markupsafe import Markup, escape

CHOICES = (0, 2, 5, 10, 30)  # seconds; 0 = off
COOKIE_PREFIX = "td_poll_"


def poll_seconds(key: str, default: int = 5) -> int:
    """The interval chosen for ``key`` in this browser, or ``default``."""
    raw = request.cookies.get(COOKIE_PREFIX + key, "")
    try:
        value = int(raw)
    except ValueError:
        return default
    return value if value in CHOICES else default


def poll_attrs(key: str, default: int = 5) -> Markup:
    """Attributes for a polled element: ``hx-trigger="every Ns"``, or none when polling is off.

    ``data-poll-key`` lets the control in ``static/app.js`` retune the element without a reload.
    """
    seconds = poll_seconds(key, default)
    attrs = f'data-poll-key="{escape(key)}"'
    if seconds:
        attrs += f' hx-trigger="every {seconds}s"'
    return Markup(attrs)  # noqa: S704 - built from an escaped key and an integer
