"""The errors page and API: the history's failures grouped (``errors``), retried a group at once."""

from __future__ import annotations

from flask import jsonify, redirect, request
from flask_babel import lazy_gettext as _l

from ..api import json_body
from ..core.errors import Unprocessable
from ..extensions import db
from ..mount import url_for
from ..openapi import api_operation
from ..portal.permissions import mutation
from ..redis_client import get_celery
from ..rendering import page_or_fragment, wants_fragment
from . import actions, errors, schemas, service
from .views import api, bp


def _window(value: object) -> str:
    window = str(value or "day")
    if window not in errors.WINDOWS:
        choices = ", ".join(errors.WINDOWS)
        raise Unprocessable(_l("window must be one of %(choices)s", choices=choices), field="window")
    return window


def _group_key(key: str) -> str:
    if len(key) != 16 or any(c not in "0123456789abcdef" for c in key):
        raise Unprocessable(_l("an error group is 16 hexadecimal digits"), field="key")
    return key


@bp.get("/errors")
def errors_index():
    window = _window(request.args.get("window"))
    found = errors.groups(db.session, window)
    return page_or_fragment(
        "history/errors.html", "history/_errors.html", groups=found, window=window, windows=errors.WINDOWS
    )


@bp.post("/errors/<key>/retry")
@mutation("operator", "history.retry_error_group")
def retry_error_group(key: str):
    window = _window(request.form.get("window"))
    outcome = _retry_group(key, window)
    found = errors.groups(db.session, window)
    notice = outcome.summary("retry")
    if wants_fragment():
        return page_or_fragment(
            "history/errors.html", "history/_errors.html", groups=found, window=window,
            windows=errors.WINDOWS, notice=notice,
        )  # fmt: skip
    return redirect(url_for("history.errors_index", window=window))


def _retry_group(key: str, window: str) -> actions.BulkOutcome:
    """Send the window's failed runs of group ``key`` again (at most service.BULK_LIMIT)."""
    ids = errors.failed_in_group(db.session, _group_key(key), window, service.BULK_LIMIT)
    return actions.retry_runs(db.session, get_celery(), ids) if ids else actions.BulkOutcome()


def group_json(group: errors.ErrorGroup) -> dict:
    return {
        "key": group.key,
        "type": group.kind,
        "pattern": group.pattern,
        "count": group.count,
        "first_seen": group.first_seen.isoformat(),
        "last_seen": group.last_seen.isoformat(),
        "tasks": group.tasks,
        "example": {"id": group.example_id, "exception": group.example},
        "runs_url": url_for("history.index", q=group.query),
    }


@api.get("/errors")
@api_operation(
    _l("Failures grouped by exception type and message"),
    tag="runs",
    query=schemas.ErrorsQuery,
    responses={200: schemas.ErrorGroups},
)
def api_errors():
    window = _window(request.args.get("window"))
    return jsonify({"window": window, "groups": [group_json(g) for g in errors.groups(db.session, window)]})


@api.post("/errors/<key>/retry")
@mutation("operator", "history.retry_error_group")
@api_operation(
    _l("Retry every failed run of an error group in a window"),
    tag="runs",
    body=schemas.ErrorsRetryBody,
    responses={202: schemas.ErrorsRetried},
)
def api_retry_error_group(key: str):
    data = json_body()
    window = _window(data.get("window"))
    outcome = _retry_group(key, window)
    body = {"key": key, "window": window, "retried": outcome.done, "refused": len(outcome.refused)}
    return jsonify(body), 202
