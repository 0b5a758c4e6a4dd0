"""Retrying a run with changes: edited arguments or options, validated as the run form's, under a
role of its own (``RETRY_WITH_CHANGES_ROLE``, admin by default)."""

from __future__ import annotations

from flask import jsonify, redirect, request
from flask_babel import lazy_gettext as _l

from ..api import json_body
from ..core.errors import DashboardError
from ..extensions import db
from ..mount import settings, url_for
from ..openapi import api_operation
from ..portal.permissions import mutation
from ..redis_client import get_celery
from ..timeutil import utcnow
from . import actions, schemas, service
from .views import api, bp, run_page

ROLE = "setting:RETRY_WITH_CHANGES_ROLE"
FORM_FIELDS = ("args", "kwargs", "queue", "priority", "countdown")


def _retry(task_id: str, changes: dict):
    return actions.retry_with_changes(
        db.session,
        get_celery(),
        task_id,
        changes,
        max_payload_bytes=settings()["MAX_PAYLOAD_BYTES"],
        now=utcnow(),
    )


@bp.post("/runs/<task_id>/retry-with-changes")
@mutation(ROLE, "history.retry_with_changes")
def retry_with_changes(task_id: str):
    """The run page's form: refused input is shown on the page (4xx) and nothing is sent."""
    changes = {name: request.form.get(name, "") for name in FORM_FIELDS}
    try:
        new_run = _retry(task_id, changes)
    except DashboardError as exc:
        if exc.status_code == 404:
            raise
        db.session.rollback()
        return run_page(task_id, status=exc.status_code, changes=changes, changes_error=exc)
    return redirect(url_for("history.run_detail", task_id=new_run.task_id))


@api.post("/<task_id>/retry-with-changes")
@mutation(ROLE, "history.retry_with_changes")
@api_operation(
    _l("Run a run again with changed arguments or options"),
    tag="runs",
    body=schemas.RetryChanges,
    responses={201: schemas.Retried},
)
def api_retry_with_changes(task_id: str):
    new_run = _retry(task_id, json_body())
    body = service.run_json(new_run)
    body["url"] = url_for("history.run_detail", task_id=new_run.task_id)
    return jsonify(body), 201
