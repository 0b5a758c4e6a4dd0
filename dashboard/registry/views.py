"""Pages and JSON API of the tasks area: the registry, a task's details and its Run form."""

from __future__ import annotations

from flask import Blueprint, jsonify, make_response, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..api import api_blueprint, json_body
from ..core import broker
from ..core.errors import DashboardError
from ..core.runs import TaskRun
from ..extensions import db
from ..mount import settings, url_for
from ..openapi import api_operation
from ..portal.permissions import current_identity, mutation
from ..redis_client import broker_on_dashboard_redis, get_broker, get_celery, get_redis, inspect_limits
from ..rendering import fragment_only, page_or_fragment, wants_fragment
from ..templating import render_template
from ..timeutil import utcnow
from . import catalogue, schemas, service
from .forms import build_run_form, prefill_from_run

bp = Blueprint("registry", __name__, url_prefix="/tasks")
api = api_blueprint("registry_api", __name__, "tasks")

ZONE_COOKIE = "td_tz"


def _report() -> catalogue.WorkerReport:
    """What workers report, from the shared inspect cache (fresh answers cost no wait)."""
    config = settings()
    return catalogue.inspect_workers(
        get_redis(),
        config["TASKDECK_KEY_PREFIX"],
        get_celery(),
        **inspect_limits(),
    )


def _flag(name: str) -> bool:
    return request.args.get(name, "") not in ("", "0", "false", "off")


def _operator_zone() -> str:
    """The zone this browser last ran with (cookie), else the Celery app's own time zone."""
    zones = service.zone_names()
    chosen = request.cookies.get(ZONE_COOKIE, "")
    if chosen in zones:
        return chosen
    app_zone = str(get_celery().conf.timezone or "UTC")
    return app_zone if app_zone in zones else "UTC"


@bp.get("/")
def index():
    search = request.args.get("q", "")
    include_internal = _flag("internal")
    report = _report()
    tasks = catalogue.list_tasks(get_celery(), report, search=search, include_internal=include_internal)
    return page_or_fragment(
        "registry/index.html",
        "registry/_content.html",
        tasks=tasks,
        report=report,
        search=search,
        include_internal=include_internal,
        inspect_timeout=settings()["INSPECT_TIMEOUT"],
    )


def _task_page(
    info: catalogue.TaskInfo,
    report: catalogue.WorkerReport,
    form=None,
    submitted: service.Submission | None = None,
    run=None,
    status: int = 200,
):
    celery_app = get_celery()
    if form is None and info.in_app:
        form = _run_form(celery_app, info, report)
    sent = submitted.task_id if submitted and not submitted.staged else None
    context = {
        "task": info,
        "report": report,
        "form": form,
        "sent": sent,
        "submitted": submitted,
        "run": run,
        "run_state": service.RunState.from_backend(celery_app, sent) if sent else None,
        "flower_url": settings().get("FLOWER_URL"),
    }
    if request.method == "POST" and wants_fragment():
        response = make_response(render_template("registry/_run_panel.html", **context), status)
    else:
        template = "registry/_task.html" if wants_fragment() else "registry/task.html"
        response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    return response


def _run_form(celery_app, info: catalogue.TaskInfo, report: catalogue.WorkerReport):
    queues = broker.known_queues(celery_app, report.queue_names())
    return build_run_form(info, queues, info.queue, service.zone_names(), _operator_zone())


@bp.get("/<path:name>")
def task_detail(name: str):
    """A task's page; ``?clone=<task id>`` fills the Run form with that run's arguments and queue."""
    report = _report()
    celery_app = get_celery()
    info = catalogue.describe_task(celery_app, name, report)
    form = None
    clone = str(request.args.get("clone", ""))[:64]
    if clone and info.in_app:
        source = db.session.scalar(select(TaskRun).where(TaskRun.task_id == clone, TaskRun.name == info.name))
        if source is not None:
            form = _run_form(celery_app, info, report)
            prefill_from_run(form, source)
    return _task_page(info, report, form=form)


@bp.post("/<path:name>/run")
@mutation("operator", "task.run")
def run(name: str):
    """The Run form: refused input is shown next to its field (4xx) and nothing is sent."""
    celery_app = get_celery()
    service.require_task(celery_app, name)
    report = _report()
    info = catalogue.describe_task(celery_app, name, report)
    form = _run_form(celery_app, info, report)
    if not form.validate():
        form.general_errors.append(_("the form could not be read; reload the page and try again"))
        return _task_page(info, report, form=form, status=400)
    try:
        run_request = service.parse_run_request(
            form.run_data(),
            celery_app,
            max_payload_bytes=settings()["MAX_PAYLOAD_BYTES"],
            now=utcnow(),
            worker_queues=report.queue_names(),
        )
        submitted = _submit(run_request, form.submission.data, form.note.data)
    except DashboardError as exc:
        form.show_error(exc.field, exc.message)
        return _task_page(info, report, form=form, status=exc.status_code)
    response = _task_page(info, report, form=form, submitted=submitted, run=run_request)
    response.set_cookie(ZONE_COOKIE, run_request.timezone, max_age=365 * 86400, samesite="Lax")
    return response


def _submit(run_request: service.RunRequest, submission: object, note: object) -> service.Submission:
    """Send, stage or auto-submit a validated run (see ``service.submit_run``)."""
    config = settings()
    if not isinstance(note, str | type(None)):
        raise service.InvalidRunOption(_l("note must be text"), field="note")
    same_server = broker_on_dashboard_redis()
    return service.submit_run(
        get_redis(),
        get_celery(),
        db.session,
        config["TASKDECK_KEY_PREFIX"],
        run_request,
        submission=service.check_submission(submission),
        staged_by=current_identity().user,
        max_bytes=config["MAX_PAYLOAD_BYTES"],
        note=note or "",
        broker=None if same_server else get_broker(),
    )


@bp.get("/-/runs/<task_id>/state")
def run_state(task_id: str):
    """The polled result state of a run; 286 (stop polling) once it is ready."""
    state = service.RunState.from_backend(get_celery(), task_id)
    return fragment_only("registry/_run_state.html", status=286 if state.ready else 200, run_state=state)


# --- JSON API --------------------------------------------------------------------------------


@api.get("")
@api_operation(_l("List tasks"), tag="tasks", query=schemas.TaskQuery, responses={200: schemas.TaskList})
def api_list():
    report = _report()
    tasks = catalogue.list_tasks(
        get_celery(), report, search=request.args.get("q", ""), include_internal=_flag("internal")
    )
    return jsonify(
        {
            "tasks": [task.to_json() for task in tasks],
            "workers": list(report.workers),
            "inspect_error": report.error,
        }
    )


@api.get("/<path:name>")
@api_operation(_l("Describe a task"), tag="tasks", responses={200: schemas.TaskDetail})
def api_detail(name: str):
    celery_app = get_celery()
    report = _report()
    info = catalogue.describe_task(celery_app, name, report)
    body = info.to_json()
    body["queues"] = broker.known_queues(celery_app, report.queue_names())
    return jsonify(body)


@api.post("/<path:name>/run")
@mutation("operator", "task.run")
@api_operation(
    _l("Run a task now, later or through the staging list"),
    tag="tasks",
    body=schemas.RunBody,
    responses={202: schemas.RunAccepted, 201: schemas.RunAccepted},
    errors=(413,),
)
def api_run(name: str):
    """Send (202) or stage (201) a run. Body: see ``service.parse_run_request``, plus
    ``submission`` (direct | staged | auto) and ``note``."""
    celery_app = get_celery()
    data = dict(json_body())
    data["task"] = name
    config = settings()
    submission = service.check_submission(data.get("submission"))
    run_request = service.parse_run_request(
        data,
        celery_app,
        max_payload_bytes=config["MAX_PAYLOAD_BYTES"],
        now=utcnow(),
        worker_queues=lambda: _report().queue_names(),
    )
    submitted = _submit(run_request, submission, data.get("note"))
    task_id = submitted.task_id
    links = {
        "history": url_for("history.run_detail", task_id=task_id),
        "state": url_for("registry_api.api_run_state", task_id=task_id),
    }
    if submitted.staged:
        links["staging"] = url_for("staging.index")
    if config.get("FLOWER_URL"):
        links["flower"] = f"{config['FLOWER_URL'].rstrip('/')}/task/{task_id}"
    body = {**run_request.to_json(), **submitted.to_json(), "links": links}
    return jsonify(body), 201 if submitted.staged else 202


@api.get("/-/runs/<task_id>/state")
@api_operation(_l("The result state of a run"), tag="tasks", responses={200: schemas.RunStateOut})
def api_run_state(task_id: str):
    return jsonify(service.RunState.from_backend(get_celery(), task_id).to_json())
