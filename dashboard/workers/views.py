"""Pages, polled partials, control forms and the JSON API of the workers area."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, abort, jsonify, request
from flask_babel import lazy_gettext as _l

from ..api import api_blueprint, json_body
from ..core.errors import DashboardError, Unprocessable
from ..i18n import localtime
from ..mount import settings
from ..openapi import api_operation
from ..portal.permissions import delegates_to, mutation, requires_role
from ..redis_client import get_celery, get_redis, inspect_limits
from ..rendering import fragment_only, page_or_fragment, wants_fragment
from ..templating import render_template, template_filter
from . import control, schemas, service

bp = Blueprint("workers", __name__, url_prefix="/workers")
api = api_blueprint("workers_api", __name__, "workers")

# Form fields that are not command arguments.
FORM_META = frozenset({"csrf_token", "confirmed"})


def _settings() -> dict[str, float]:
    limits = inspect_limits()
    return {
        "timeout": limits["timeout"],
        "max_age": limits["max_age"],
        "offline_after": limits["alive_within"],
        "forget_after": settings()["WORKERS_FORGET_AFTER"],
    }


def _prefix() -> str:
    return settings()["TASKDECK_KEY_PREFIX"]


def _list() -> service.WorkerList:
    return service.list_workers(get_redis(), _prefix(), get_celery(), **_settings())


def _detail(hostname: str, kinds: tuple[str, ...] = service.DETAIL_KINDS) -> service.WorkerDetail:
    s = _settings()
    return service.worker_detail(
        get_redis(),
        _prefix(),
        get_celery(),
        hostname,
        timeout=s["timeout"],
        max_age=s["max_age"],
        offline_after=s["offline_after"],
        kinds=kinds,
    )


def _flower_task_url(task_id: str) -> str | None:
    base = settings().get("FLOWER_URL")
    return f"{base.rstrip('/')}/task/{task_id}" if base else None


def _flower_worker_url(hostname: str) -> str | None:
    base = settings().get("FLOWER_URL")
    return f"{base.rstrip('/')}/worker/{hostname}" if base else None


def _context(**extra: Any) -> dict[str, Any]:
    return {
        "commands": control.COMMANDS,
        "flower_task_url": _flower_task_url,
        "flower_worker_url": _flower_worker_url,
        **extra,
    }


# --------------------------------------------------------------------------- pages


@bp.get("/")
def index():
    """Every worker with its status; the same URL is the polled partial."""
    return page_or_fragment(
        "workers/index.html", "workers/_content.html", live=True, **_context(workers=_list())
    )


@bp.get("/<hostname>")
def detail(hostname: str):
    """One worker: every section, each of which then polls on its own."""
    worker = _detail(hostname)
    paused = control.paused_queues(get_redis(), _prefix(), hostname)
    return page_or_fragment(
        "workers/detail.html", "workers/_detail.html", live=True, **_context(worker=worker, paused=paused)
    )


@bp.get("/<hostname>/sections/<kind>")
def section(hostname: str, kind: str):
    """One polled section of the worker page."""
    if kind not in service.DETAIL_KINDS:
        abort(404)
    worker = _detail(hostname, (kind,))
    paused = control.paused_queues(get_redis(), _prefix(), hostname) if kind == "active_queues" else []
    return fragment_only("workers/_section.html", **_context(worker=worker, kind=kind, paused=paused))


@bp.get("/<hostname>/confirm/<command>")
def confirm(hostname: str, command: str):
    """The confirmation step for destructive commands when JavaScript is off (changes nothing)."""
    cmd = control.COMMANDS.get(command) or abort(404)
    values = {k: v for k, v in request.args.items() if k not in FORM_META}

    @requires_role(cmd.role)
    def page():
        return render_template(
            "workers/control.html", **_context(command=cmd, hostname=hostname, values=values, confirming=True)
        )

    return page()


# --------------------------------------------------------------------------- control (HTML)


def _run_control_html(command: control.Command, hostname: str):
    values = {k: v for k, v in request.form.items() if k not in FORM_META}
    try:
        result = control.send_control(
            get_redis(),
            _prefix(),
            get_celery(),
            command.name,
            values,
            hostname,
            timeout=_settings()["timeout"],
        )
    except Unprocessable as exc:
        context = _context(command=command, hostname=hostname, values=values, error=exc, confirming=False)
        if wants_fragment():
            return render_template("workers/_control_result.html", **context), exc.status_code
        return render_template("workers/control.html", **context), exc.status_code
    context = _context(command=command, hostname=hostname, result=result, values=values, confirming=False)
    if wants_fragment():
        response = fragment_only("workers/_control_result.html", **context)
        response.headers["HX-Trigger"] = "workers-changed"
        return response
    return render_template("workers/control.html", **context)


def _html_control_view(command: control.Command):
    @mutation(command.role, f"worker.{command.name}")
    def view(hostname: str):
        return _run_control_html(command, hostname)

    view.__name__ = f"control_{command.name}"
    view.__doc__ = f"{command.label} on one worker, or on all with hostname '*'."
    return view


def _api_control_view(command: control.Command):
    @mutation(command.role, f"worker.{command.name}")
    def view(hostname: str):
        body = json_body()
        arguments = body.get("arguments") or {}
        if not isinstance(arguments, dict):
            raise Unprocessable(_l("arguments must be a JSON object"), field="arguments")
        result = control.send_control(
            get_redis(),
            _prefix(),
            get_celery(),
            command.name,
            arguments,
            hostname,
            timeout=_settings()["timeout"],
        )
        return jsonify(result.to_json())

    view.__name__ = f"api_control_{command.name}"
    return view


for _command in control.COMMANDS.values():
    bp.add_url_rule(
        f"/<hostname>/control/{_command.name}",
        endpoint=f"control_{_command.name}",
        view_func=_html_control_view(_command),
        methods=["POST"],
    )

# One audited, role-checked view per command; the API route below picks one by the body's command.
_API_CONTROL = {name: _api_control_view(cmd) for name, cmd in control.COMMANDS.items()}


# --------------------------------------------------------------------------- JSON API


@api.get("")
@api_operation(_l("List workers"), tag="workers", responses={200: schemas.WorkerListOut})
def api_list():
    """``GET /api/v1/workers``: every worker with status, pool, queues and counts."""
    return _no_store(jsonify(_list().to_json()))


@api.get("/commands")
@api_operation(_l("The control commands"), tag="workers", responses={200: schemas.Commands})
def api_commands():
    """The fixed list of control commands, their arguments and the role each needs."""
    body = {
        name: {
            "label": cmd.label,
            "role": cmd.role,
            "destructive": cmd.destructive,
            "arguments": [
                {"name": a.name, "type": a.type.__name__, "required": a.required, "choices": list(a.choices)}
                for a in cmd.arguments
            ],
        }
        for name, cmd in control.COMMANDS.items()
    }
    return jsonify(body)


@api.get("/<hostname>")
@api_operation(_l("One worker's inspect sections"), tag="workers", responses={200: schemas.WorkerDetailOut})
def api_detail(hostname: str):
    """``GET /api/v1/workers/<hostname>``: every inspect section of one worker."""
    return _no_store(jsonify(_detail(hostname).to_json()))


@api.post("/<hostname>/control")
@delegates_to(_API_CONTROL)
@api_operation(
    _l("Send a control command to a worker (or * for all)"),
    tag="workers",
    body=schemas.ControlBody,
    body_required=True,
    responses={200: schemas.ControlResultOut},
    description="The role needed depends on the command: see GET /workers/commands.",
)
def api_control(hostname: str):
    """``POST /api/v1/workers/<hostname>/control`` with ``{"command": ..., "arguments": {...}}``.

    ``hostname`` ``*`` targets every worker. Each command runs through its own view, which
    checks the role the command needs and writes the audit row ``worker.<command>``.
    """
    command = json_body().get("command")
    if not isinstance(command, str) or command not in _API_CONTROL:
        raise Unprocessable(_l("unknown control command '%(name)s'", name=command), field="command")
    return _API_CONTROL[command](hostname=hostname)


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@api.errorhandler(DashboardError)
def _api_error(exc: DashboardError):
    return jsonify(exc.to_json()), exc.status_code


# --------------------------------------------------------------------------- display helpers


@template_filter("worker_time")
def worker_time(epoch: float | str | None) -> str:
    """Epoch seconds (or an ISO string from a worker) in the operator's zone and locale."""
    if epoch in (None, ""):
        return "—"
    if isinstance(epoch, str):
        return epoch
    return localtime(datetime.fromtimestamp(float(epoch), UTC))
