"""Pages and JSON API of the queues area."""

from __future__ import annotations

import logging
import time

import redis
from flask import Blueprint, flash, get_flashed_messages, jsonify, make_response, redirect, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy.exc import SQLAlchemyError

from ..api import api_blueprint
from ..core.broker import BrokerLayout, layout_for
from ..core.errors import DashboardError
from ..core.runs import discard
from ..extensions import db
from ..mount import settings, url_for
from ..openapi import api_operation
from ..portal.permissions import current_identity, mutation, requires_role
from ..redis_client import broker_on_dashboard_redis, get_broker, get_celery, get_redis, inspect_limits
from ..rendering import fragment_only, page_or_fragment, wants_fragment
from ..templating import render_template
from . import actions, schemas, service

log = logging.getLogger(__name__)
bp = Blueprint("queues", __name__, url_prefix="/queues")
api = api_blueprint("queues_api", __name__, "queues")


def broker() -> redis.Redis:
    """The broker's Redis (the dashboard's own client when they are the same server)."""
    return get_broker()


def layout() -> BrokerLayout:
    return layout_for(get_celery())


def _inspect(*methods: str) -> dict[str, dict[str, list]]:
    """Inspect replies from the shared cache: a fresh answer costs no inspect timeout."""
    config = settings()
    return service.inspect_workers(
        get_redis(),
        config["TASKDECK_KEY_PREFIX"],
        get_celery(),
        *methods,
        **inspect_limits(),
    )


def _int_arg(name: str, default: int) -> int:
    raw = request.args.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise DashboardError(_l("%(field)s must be a whole number", field=name), field=name) from None


def _summaries():
    active = _inspect("active_queues")["active_queues"]
    queues = service.list_queues(broker(), layout(), get_celery(), active, db.session)
    return queues, bool(active)


def _page(name: str):
    return service.read_page(
        broker(),
        layout(),
        name,
        limit=_int_arg("limit", service.DEFAULT_LIMIT),
        position=_int_arg("position", 0),
        cursor=request.args.get("cursor") or None,
    )


def _held(name: str):
    replies = _inspect("reserved", "scheduled")
    reserved, scheduled = replies["reserved"], replies["scheduled"]
    client = broker()
    queue_bindings = service.bindings(client, layout()).get(name, set())
    held, truncated = service.held_messages(
        client, layout(), name, queue_bindings, service.inspected_requests(reserved, scheduled)
    )
    return {
        "held": held,
        "truncated": truncated,
        "workers_answered": bool(reserved or scheduled),
        "now": time.time(),
    }


# --- pages ---------------------------------------------------------------------------------------


@bp.get("/")
def index():
    queues, workers_answered = _summaries()
    return page_or_fragment(
        "queues/index.html",
        "queues/_content.html",
        live=True,
        queues=queues,
        workers_answered=workers_answered,
    )


@bp.get("/<name>")
def detail(name: str):
    service.check_queue_name(name)
    page = _page(name)
    notices = get_flashed_messages(with_categories=True)
    return page_or_fragment(
        "queues/detail.html", "queues/_messages.html", live=True, listing=page, name=name, notices=notices
    )


@bp.get("/<name>/held")
def held(name: str):
    service.check_queue_name(name)
    context = _held(name)
    if wants_fragment():
        return fragment_only("queues/_held.html", name=name, **context)
    return page_or_fragment("queues/held.html", "queues/_held.html", live=True, name=name, **context)


@bp.get("/<name>/messages/<task_id>/delete")
@requires_role("operator")
def confirm_delete(name: str, task_id: str):
    """The confirmation step for browsers without JavaScript (htmx asks with hx-confirm)."""
    service.check_queue_name(name)
    return render_template("queues/confirm.html", name=name, action="delete", task_id=task_id)


@bp.post("/<name>/messages/<task_id>/delete")
@mutation("operator", "queue.delete_message")
def delete_message(name: str, task_id: str):
    service.check_queue_name(name)
    try:
        message = actions.delete_message(broker(), layout(), name, task_id)
        if message.task_id:
            _discarded(name, "deleted", [(message.task_id, message.task)])
    except service.QueueMessageGone as exc:
        if wants_fragment():
            # htmx does not swap 4xx replies: answer 200 with the row saying what happened.
            return fragment_only("queues/_gone_row.html", message=exc.message)
        # Not an error page: the queue as it is now, saying what happened.
        page = _page(name)
        notices = [("error", exc.message)]
        return make_response(
            render_template("queues/detail.html", listing=page, name=name, notices=notices), 404
        )
    if wants_fragment():
        response = make_response("")
        response.headers["HX-Trigger"] = "queue-changed"
        return response
    flash(
        _(
            "Deleted message %(id)s (%(task)s).",
            id=message.task_id or message.sha1,
            task=message.task or _("undecodable"),
        ),
        "ok",
    )
    return redirect(url_for("queues.detail", name=name), code=303)


def _move_to_staging(name: str, task_id: str):
    config = settings()
    return actions.move_to_staging(
        broker(),
        layout(),
        get_celery(),
        name,
        task_id,
        prefix=config["TASKDECK_KEY_PREFIX"],
        same_server=broker_on_dashboard_redis(),
        staged_by=current_identity().user,
        max_bytes=config["MAX_PAYLOAD_BYTES"],
    )


@bp.get("/<name>/messages/<task_id>/stage")
@requires_role("operator")
def confirm_stage(name: str, task_id: str):
    """The confirmation step for browsers without JavaScript (htmx asks with hx-confirm)."""
    service.check_queue_name(name)
    return render_template("queues/confirm.html", name=name, action="stage", task_id=task_id)


@bp.post("/<name>/messages/<task_id>/stage")
@mutation("operator", "queue.stage_message")
def stage_message(name: str, task_id: str):
    """Move a waiting message to the staging list; refusals keep it waiting and say why."""
    service.check_queue_name(name)
    try:
        item = _move_to_staging(name, task_id)
    except DashboardError as exc:
        if wants_fragment():
            # htmx does not swap 4xx replies: answer 200 with the row saying what happened.
            return fragment_only("queues/_gone_row.html", message=exc.message)
        page = _page(name)
        return make_response(
            render_template("queues/detail.html", listing=page, name=name, notices=[("error", exc.message)]),
            exc.status_code,
        )
    if wants_fragment():
        response = make_response(render_template("queues/_staged_row.html", item=item, name=name))
        response.headers["HX-Trigger"] = "queue-changed"
        return response
    flash(_("Moved message %(id)s (%(task)s) to the staging list.", id=item.id, task=item.task), "ok")
    return redirect(url_for("queues.detail", name=name), code=303)


def _discarded(name: str, how: str, messages: list[tuple[str, str | None]]) -> None:
    """The runs of messages removed from queue ``name`` end DISCARDED, saying by whom and how."""
    if messages:
        who = current_identity()
        reason = f"{how} from queue {name} by {who.user if who else 'unknown'}"
        try:
            discard(db.session, [(task_id, task, name) for task_id, task in messages], reason)
        except SQLAlchemyError as exc:  # the messages are gone either way: say so in the log
            db.session.rollback()
            log.warning("%d removed message(s) of %s not marked DISCARDED: %s", len(messages), name, exc)


@bp.get("/<name>/purge")
@requires_role("admin")
def confirm_purge(name: str):
    service.check_queue_name(name)
    total = service.read_page(broker(), layout(), name, limit=1).total
    return render_template("queues/confirm.html", name=name, action="purge", total=total)


@bp.post("/<name>/purge")
@mutation("admin", "queue.purge")
def purge(name: str):
    service.check_queue_name(name)
    count, named = actions.purge_queue(broker(), layout(), name)
    _discarded(name, "purged", named)
    flash(
        ngettext(
            "Purged %(num)s waiting message from %(queue)s.",
            "Purged %(num)s waiting messages from %(queue)s.",
            count,
            queue=name,
        ),
        "ok",
    )
    target = url_for("queues.detail", name=name)
    if wants_fragment():
        response = make_response("")
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, code=303)


# --- JSON API ------------------------------------------------------------------------------------


@api.get("")
@api_operation(_l("List queues"), tag="queues", responses={200: schemas.QueueList})
def api_queues():
    queues, workers_answered = _summaries()
    return jsonify({"queues": [q.to_json() for q in queues], "workers_answered": workers_answered})


@api.get("/<name>/messages")
@api_operation(
    _l("One page of a queue's waiting messages"),
    tag="queues",
    query=schemas.MessagesQuery,
    responses={200: schemas.MessagePageOut},
    errors=(400,),
)
def api_messages(name: str):
    service.check_queue_name(name)
    return jsonify(_page(name).to_json())


@api.get("/<name>/held")
@api_operation(
    _l("Messages workers hold unacknowledged"), tag="queues", responses={200: schemas.HeldList}, errors=(400,)
)
def api_held(name: str):
    service.check_queue_name(name)
    context = _held(name)
    return jsonify(
        {
            "queue": name,
            "held": [item.to_json() for item in context["held"]],
            "truncated": context["truncated"],
            "workers_answered": context["workers_answered"],
        }
    )


@api.delete("/<name>/messages/<task_id>")
@mutation("operator", "queue.delete_message")
@api_operation(_l("Delete a waiting message"), tag="queues", responses={200: schemas.Deleted})
def api_delete_message(name: str, task_id: str):
    service.check_queue_name(name)
    message = actions.delete_message(broker(), layout(), name, task_id)
    if message.task_id:
        _discarded(name, "deleted", [(message.task_id, message.task)])
    return jsonify({"deleted": message.to_json()})


@api.post("/<name>/messages/<task_id>/stage")
@mutation("operator", "queue.stage_message")
@api_operation(
    _l("Move a waiting message to the staging list"),
    tag="queues",
    responses={201: schemas.Staged},
    errors=(409,),
)
def api_stage_message(name: str, task_id: str):
    """Move a waiting message to the staging list: 201 with the staged item (same id)."""
    service.check_queue_name(name)
    item = _move_to_staging(name, task_id)
    links = {
        "staging": url_for("staging.index"),
        "history": url_for("history.run_detail", task_id=item.id),
    }
    return jsonify({"staged": item.to_dict(), "links": links}), 201


@api.post("/<name>/purge")
@mutation("admin", "queue.purge")
@api_operation(_l("Purge a queue"), tag="queues", responses={200: schemas.Purged})
def api_purge(name: str):
    service.check_queue_name(name)
    count, named = actions.purge_queue(broker(), layout(), name)
    _discarded(name, "purged", named)
    return jsonify({"queue": name, "purged": count})
