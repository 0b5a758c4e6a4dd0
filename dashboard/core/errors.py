"""The refusals services raise: bad input, unknown object, stale state (no Flask request here).

How they reach the operator (a page, a fragment or a JSON body) is ``dashboard.errors``' part.
"""

from __future__ import annotations

from flask_babel.speaklater import LazyString

from ..i18n import in_english


class DashboardError(Exception):
    """A refusal the operator can act on: bad input, unknown object, stale state.

    ``text`` is the message as raised, normally a lazy string (``_l(...)``) that is rendered
    when it is read: :attr:`message` in the current language (the request's on pages, English
    outside a request), :attr:`english` and :meth:`to_json` always in English (the JSON API).
    """

    status_code = 400

    def __init__(self, message: str | LazyString, field: str | None = None):
        super().__init__(message)
        self.text = message
        self.field = field

    @property
    def message(self) -> str:
        """The message in the current language, as plain (to be escaped) text."""
        return str(self.text)

    @property
    def english(self) -> str:
        return in_english(self.text)

    def to_json(self) -> dict[str, object]:
        """The JSON API's error body: English whatever the request's language."""
        body: dict[str, object] = {"error": self.english}
        if self.field:
            body["field"] = self.field
        return body


class NotFound(DashboardError):
    status_code = 404


class Unprocessable(DashboardError):
    status_code = 422


def reason(exc: BaseException) -> str | LazyString:
    """What ``exc`` says, still lazy when it was raised with a translatable message.

    For a placeholder of another message (``_l("... %(reason)s", reason=reason(exc))``), so the
    reason is rendered in the same language as the message around it.
    """
    if isinstance(exc, DashboardError):
        return exc.text
    if len(exc.args) == 1 and isinstance(exc.args[0], LazyString):
        return exc.args[0]
    return str(exc)
