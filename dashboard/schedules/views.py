"""Pages of the schedules area (the JSON API is ``api_views.py``)."""

from __future__ import annotations

import csv
import io
import json

from flask import Blueprint, Response, flash, make_response, redirect, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..core.errors import DashboardError
from ..extensions import db
from ..i18n import cron_locale
from ..mount import settings, url_for
from ..portal.permissions import mutation, requires_role
from ..redis_client import get_celery, get_redis, inspect_limits
from ..rendering import page_or_fragment, wants_fragment
from ..templating import render_template
from . import firing, service
from . import models as _models  # noqa: F401 - registers the tables
from . import preview as previews
from .forms import ScheduleForm
from .timing import zone, zone_names

bp = Blueprint("schedules", __name__, url_prefix="/schedules")

ZONE_COOKIE = "td_tz"
MAX_NEXT_RUNS = 100  # next run times one request computes
CSV_COLUMNS = (*service.EDITABLE, "enabled", "next_run_at", "last_run_at", "last_task_id", "total_run_count")


def operator_zone() -> str:
    """The operator's IANA zone: the ``td_tz`` cookie (set by static/schedules.js), else UTC."""
    name = request.cookies.get(ZONE_COOKIE, "")
    try:
        zone(name)
    except DashboardError:
        return "UTC"
    return name


def max_payload() -> int:
    return int(settings()["MAX_PAYLOAD_BYTES"])


IMPORT_ENDPOINTS = ("schedules.import_file", "schedules_api.api_import")


@bp.url_value_preprocessor
def import_size_limit(endpoint: str | None, _values: dict | None) -> None:
    """An import holds many schedules: its two routes take bodies up to IMPORT_MAX_CONTENT_LENGTH.

    A URL-value preprocessor, not a before_request hook, because it must run before the CSRF check,
    which reads the form (and so the body), and after the mount's own (which sets the usual limit).
    """
    if endpoint.partition(".")[2] in IMPORT_ENDPOINTS:  # taskdeck.schedules.import_file
        limit = int(settings()["IMPORT_MAX_CONTENT_LENGTH"])
        request.max_content_length = limit
        request.max_form_memory_size = limit


def registered() -> set[str]:
    return previews.registered_on_live_workers(
        get_redis(),
        settings()["TASKDECK_KEY_PREFIX"],
        get_celery(),
        **inspect_limits(),
    )


def filters() -> tuple[str | None, bool | None]:
    task = (request.args.get("task") or "").strip() or None
    enabled = {"yes": True, "no": False}.get(request.args.get("enabled", ""))
    return task, enabled


def _list_context() -> dict:
    task, enabled = filters()
    schedules = service.list_schedules(db.session, task=task, enabled=enabled)
    return {
        "schedules": schedules,
        "registered": registered(),
        "tz": operator_zone(),
        "zone": zone,
        "describe": lambda s: service.describe(service.timing_of(s), cron_locale()),
        "as_utc": service.as_utc,
        "filter_task": task or "",
        "filter_enabled": request.args.get("enabled", ""),
    }


def _task_names() -> list[str]:
    celery_app = get_celery()
    celery_app.loader.import_default_modules()
    return sorted(name for name in celery_app.tasks if not name.startswith("celery."))


# --------------------------------------------------------------------------- pages


@bp.get("/")
def index():
    context = _list_context()
    if not wants_fragment():
        context.update(
            static=previews.static_entries(get_celery()),
            tasks=sorted({s.task for s in service.list_schedules(db.session)}),
            import_error=None,
        )
    return page_or_fragment("schedules/index.html", "schedules/_list.html", live=True, **context)


def _row(schedule_id: int):
    context = _list_context()
    context["s"] = service.get_schedule(db.session, schedule_id)
    response = make_response(render_template("schedules/_row.html", **context))
    response.headers["Cache-Control"] = "no-store"
    return response


def _after_row_change(schedule_id: int):
    return _row(schedule_id) if wants_fragment() else redirect(url_for("schedules.index"))


def _render_form(form: ScheduleForm, schedule=None, status: int = 200):
    response = make_response(
        render_template(
            "schedules/form.html",
            form=form,
            schedule=schedule,
            tasks=_task_names(),
            zones=zone_names(),
            preview=previews.preview(form.to_data(), operator_zone(), locale=cron_locale()),
            registered=registered(),
            tz=operator_zone(),
        ),
        status,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/new")
@requires_role("admin")
def new():
    return _render_form(ScheduleForm())


@bp.post("/new")
@mutation("admin", "schedule.create")
def create():
    form = ScheduleForm()
    if not form.validate_on_submit():
        return _render_form(form, status=400)
    try:
        schedule = service.create_schedule(
            db.session, get_celery(), form.to_data(), max_payload=max_payload()
        )
    except DashboardError as exc:
        db.session.rollback()
        form.show_error(exc.field, exc.message)
        return _render_form(form, status=exc.status_code if exc.status_code != 404 else 422)
    if schedule.enabled:
        flash(_("Schedule %(name)s saved and enabled.", name=repr(schedule.name)))
    else:
        flash(_("Schedule %(name)s saved (disabled).", name=repr(schedule.name)))
    return redirect(url_for("schedules.index"))


@bp.get("/<int:schedule_id>/edit")
@requires_role("admin")
def edit(schedule_id: int):
    schedule = service.get_schedule(db.session, schedule_id)
    data = service.definition_of(schedule)
    data["args"] = json.dumps(data["args"])
    data["kwargs"] = json.dumps(data["kwargs"])
    form = ScheduleForm(data={k: ("" if v is None else v) for k, v in data.items()})
    return _render_form(form, schedule)


@bp.post("/<int:schedule_id>/edit")
@mutation("admin", "schedule.edit")
def update(schedule_id: int):
    schedule = service.get_schedule(db.session, schedule_id)
    form = ScheduleForm()
    if not form.validate_on_submit():
        return _render_form(form, schedule, status=400)
    try:
        schedule = service.update_schedule(
            db.session, get_celery(), schedule_id, form.to_data(), max_payload=max_payload()
        )
    except DashboardError as exc:
        db.session.rollback()
        form.show_error(exc.field, exc.message)
        return _render_form(form, schedule, status=exc.status_code if exc.status_code != 404 else 422)
    flash(_("Schedule %(name)s saved.", name=repr(schedule.name)))
    return redirect(url_for("schedules.index"))


@bp.get("/preview")
def preview():
    """The live preview under the form: human text and next 5 runs, or the precise error."""
    data = {key: request.args.get(key, "") for key in ScheduleForm.DEFINITION}
    task = data.get("task", "").strip()
    response = make_response(
        render_template(
            "schedules/_preview.html",
            preview=previews.preview(data, operator_zone(), locale=cron_locale()),
            task=task,
            registered=registered() if task else set(),
            tz=operator_zone(),
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/<int:schedule_id>/enable")
@mutation("admin", "schedule.enable")
def enable(schedule_id: int):
    service.set_enabled(db.session, schedule_id, True)
    return _after_row_change(schedule_id)


@bp.post("/<int:schedule_id>/disable")
@mutation("admin", "schedule.disable")
def disable(schedule_id: int):
    service.set_enabled(db.session, schedule_id, False)
    return _after_row_change(schedule_id)


@bp.post("/<int:schedule_id>/trigger")
@mutation("operator", "schedule.trigger")
def trigger(schedule_id: int):
    firing.trigger_now(db.session, get_celery(), schedule_id)
    return _after_row_change(schedule_id)


@bp.post("/<int:schedule_id>/duplicate")
@mutation("admin", "schedule.create")
def duplicate(schedule_id: int):
    copy = service.duplicate_schedule(db.session, schedule_id)
    return redirect(url_for("schedules.edit", schedule_id=copy.id))


@bp.post("/<int:schedule_id>/delete")
@mutation("admin", "schedule.delete")
def delete(schedule_id: int):
    service.delete_schedule(db.session, schedule_id)
    if wants_fragment():
        return ""
    return redirect(url_for("schedules.index"))


@bp.get("/export.json")
def export_json():
    task, enabled = filters()
    items = [
        service.definition_of(s) | {"enabled": s.enabled}
        for s in service.list_schedules(db.session, task=task, enabled=enabled)
    ]
    response = Response(json.dumps(items, indent=2), mimetype="application/json")
    response.headers["Content-Disposition"] = "attachment; filename=schedules.json"
    return response


# A cell a spreadsheet would read as a formula (=, +, -, @, or a tab or carriage return first).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value) -> object:
    """A CSV cell that a spreadsheet shows as the text it is: a leading ' before a formula start
    (OWASP's advice); numbers and empty values as they are."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


@bp.get("/export.csv")
def export_csv():
    task, enabled = filters()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for schedule in service.list_schedules(db.session, task=task, enabled=enabled):
        row = service.to_dict(schedule)
        writer.writerow(
            [json.dumps(row[c]) if c in ("args", "kwargs") else spreadsheet_cell(row[c]) for c in CSV_COLUMNS]
        )
    response = Response(out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = "attachment; filename=schedules.csv"
    return response


@bp.post("/import")
@mutation("admin", "schedule.import")
def import_file():
    upload = request.files.get("file")
    raw = (
        upload.read().decode("utf-8", "replace")
        if upload and upload.filename
        else request.form.get("payload", "")
    )
    try:
        if len(raw.encode()) > settings()["IMPORT_MAX_CONTENT_LENGTH"]:
            raise DashboardError(_l("the import is too large"), field="file")
        created, updated = service.import_schedules(db.session, get_celery(), raw, max_payload=max_payload())
    except DashboardError as exc:
        db.session.rollback()
        context = _list_context()
        context.update(
            static=previews.static_entries(get_celery()),
            tasks=sorted({s.task for s in service.list_schedules(db.session)}),
            import_error=exc.message,
        )
        response = make_response(render_template("schedules/index.html", **context), 422)
        return response
    flash(_("Imported %(created)s new and %(updated)s updated schedules.", created=created, updated=updated))
    return redirect(url_for("schedules.index"))
