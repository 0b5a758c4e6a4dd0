"""The JSON API of the schedules area (``/api/v1/schedules``)."""

from __future__ import annotations

from flask import jsonify, request
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from ..api import api_blueprint, json_body, json_document
from ..core.beat import beat_status
from ..core.bounds import whole_number
from ..core.errors import DashboardError
from ..extensions import db
from ..mount import settings, url_for
from ..openapi import api_operation
from ..portal.permissions import mutation
from ..redis_client import get_celery, get_redis
from . import firing, schemas, service
from . import models as _models  # noqa: F401 - registers the tables
from . import preview as previews
from .forms import ScheduleForm
from .views import MAX_NEXT_RUNS, filters, import_size_limit, max_payload, operator_zone

api = api_blueprint("schedules_api", __name__, "schedules")
api.url_value_preprocessor(import_size_limit)


def _count() -> int:
    raw = request.args.get("count", "")
    return whole_number(raw, "count", 1, MAX_NEXT_RUNS, DashboardError) if raw.strip() else 5


@api.get("")
@api_operation(
    _l("List schedules"), tag="schedules", query=schemas.ListQuery, responses={200: schemas.ScheduleList}
)
def api_list():
    task, enabled = filters()
    return jsonify(
        [service.to_dict(s) for s in service.list_schedules(db.session, task=task, enabled=enabled)]
    )


@api.post("")
@mutation("admin", "schedule.create")
@api_operation(
    _l("Create a schedule"),
    tag="schedules",
    body=schemas.ScheduleBody,
    body_required=True,
    responses={201: schemas.ScheduleOut},
    errors=(404, 409),
)
def api_create():
    schedule = service.create_schedule(db.session, get_celery(), json_body(), max_payload=max_payload())
    return jsonify(service.to_dict(schedule)), 201


@api.get("/<int:schedule_id>")
@api_operation(_l("One schedule"), tag="schedules", responses={200: schemas.ScheduleOut})
def api_detail(schedule_id: int):
    return jsonify(service.to_dict(service.get_schedule(db.session, schedule_id)))


@api.route("/<int:schedule_id>", methods=["PUT", "PATCH"])
@mutation("admin", "schedule.edit")
@api_operation(
    _l("Replace (PUT) or change (PATCH) a schedule's definition"),
    tag="schedules",
    body=schemas.ScheduleBody,
    body_required=True,
    responses={200: schemas.ScheduleOut},
    errors=(409,),
)
def api_update(schedule_id: int):
    schedule = service.update_schedule(
        db.session,
        get_celery(),
        schedule_id,
        json_body(),
        max_payload=max_payload(),
        partial=request.method == "PATCH",
    )
    return jsonify(service.to_dict(schedule))


@api.delete("/<int:schedule_id>")
@mutation("admin", "schedule.delete")
@api_operation(_l("Delete a schedule"), tag="schedules", responses={200: schemas.DeletedOut})
def api_delete(schedule_id: int):
    service.delete_schedule(db.session, schedule_id)
    return jsonify({"deleted": schedule_id})


@api.post("/<int:schedule_id>/enable")
@mutation("admin", "schedule.enable")
@api_operation(_l("Enable a schedule"), tag="schedules", responses={200: schemas.ScheduleOut})
def api_enable(schedule_id: int):
    return jsonify(service.to_dict(service.set_enabled(db.session, schedule_id, True)))


@api.post("/<int:schedule_id>/disable")
@mutation("admin", "schedule.disable")
@api_operation(_l("Disable a schedule"), tag="schedules", responses={200: schemas.ScheduleOut})
def api_disable(schedule_id: int):
    return jsonify(service.to_dict(service.set_enabled(db.session, schedule_id, False)))


@api.post("/<int:schedule_id>/trigger")
@mutation("operator", "schedule.trigger")
@api_operation(_l("Run a schedule's task now"), tag="schedules", responses={202: schemas.Triggered})
def api_trigger(schedule_id: int):
    task_id = firing.trigger_now(db.session, get_celery(), schedule_id)
    return jsonify({"task_id": task_id, "history": url_for("history.run_detail", task_id=task_id)}), 202


@api.get("/<int:schedule_id>/next-runs")
@api_operation(
    _l("A schedule's next runs"),
    tag="schedules",
    query=schemas.CountQuery,
    responses={200: schemas.NextRuns},
    errors=(400,),
)
def api_next_runs(schedule_id: int):
    schedule = service.get_schedule(db.session, schedule_id)
    runs = previews.next_runs(schedule, operator_zone(), _count())
    return jsonify({"id": schedule_id, "runs": [run.to_json() for run in runs]})


@api.get("/preview")
@api_operation(
    _l("Next runs of an unsaved definition"),
    tag="schedules",
    query=schemas.PreviewQuery,
    responses={200: schemas.PreviewOut},
    errors=(400,),
)
def api_preview():
    """Next runs of an unsaved definition: ``?kind=cron&cron=*/5 * * * *&timezone=UTC&count=5``."""
    data = {key: request.args.get(key, "") for key in ScheduleForm.DEFINITION}
    with force_locale("en"):  # the API's texts stay English whatever the request's language
        result = previews.preview(data, operator_zone(), count=_count())
    return jsonify(result.to_json()), (422 if result.error else 200)


@api.post("/import")
@mutation("admin", "schedule.import")
@api_operation(
    _l("Import schedules (create or update by name)"),
    tag="schedules",
    body=schemas.ImportBody,
    body_required=True,
    responses={200: schemas.Imported},
    errors=(404, 409, 413),
)
def api_import():
    items = json_document(members=2)  # a list of schedule objects, decoded once
    created, updated = service.import_schedules(db.session, get_celery(), items, max_payload=max_payload())
    return jsonify({"created": created, "updated": updated})


@api.get("/beat")
@api_operation(
    _l("Who runs beat, and when it last ticked"), tag="schedules", responses={200: schemas.BeatOut}
)
def api_beat():
    return jsonify(beat_status(get_redis(), settings()["TASKDECK_KEY_PREFIX"]).to_json())
