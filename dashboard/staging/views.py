"""Pages and JSON API of the staging area."""

from __future__ import annotations

from flask import Blueprint, jsonify, make_response, redirect, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import heartbeat
from ..api import api_blueprint, json_body
from ..core.errors import DashboardError, Unprocessable
from ..extensions import db
from ..mount import settings, url_for
from ..openapi import api_operation
from ..portal.permissions import current_identity, mutation, requires_role
from ..redis_client import broker_on_dashboard_redis, get_broker, get_celery, get_redis
from ..rendering import page_or_fragment, wants_fragment
from ..templating import render_template
from . import schemas, service
from .forms import ItemForm, PolicyForm

bp = Blueprint("staging", __name__, url_prefix="/staging")
api = api_blueprint("staging_api", __name__, "staging")

SHOWN = 500  # items rendered on the page; the rest are counted


def _prefix() -> str:
    return settings()["TASKDECK_KEY_PREFIX"]


def _same_server() -> bool:
    return broker_on_dashboard_redis()


def _list_context(notice: str | None = None, error: str | None = None) -> dict:
    client, celery_app = get_redis(), get_celery()
    snap = service.snapshot(client, _prefix(), limit=SHOWN)
    queues = {item.id: service.target_queue(celery_app, item) for item in snap.items}
    return {"snap": snap, "queues": queues, "notice": notice, "error": error}


def _dispatcher_context(form: PolicyForm | None = None, error: str | None = None) -> dict:
    client = get_redis()
    policy = service.get_policy(client, _prefix())
    if form is None:
        form = PolicyForm(data=policy.to_dict())
    return {
        "policy": policy,
        "policy_form": form,
        "policy_error": error,
        "dispatchers": heartbeat.alive(client, _prefix(), "dispatcher"),
        "same_server": _same_server(),
    }


def _live(template: str, status: int = 200, **context):
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    response.headers["Cache-Control"] = "no-store"
    return response


def _list_response(status: int = 200, **kwargs):
    return _live("staging/_list.html", status, **_list_context(**kwargs))


def _after_change(notice: str | None = None, error: DashboardError | None = None):
    """HTMX gets the re-rendered list; a plain form post is redirected back to the page."""
    if wants_fragment():
        if error is not None:
            return _list_response(error.status_code, error=error.message)
        return _list_response(notice=notice)
    if error is not None:
        context = {**_list_context(error=error.message), **_dispatcher_context()}
        return make_response(render_template("staging/index.html", **context), error.status_code)
    return redirect(url_for("staging.index"), code=303)


# ---------------------------------------------------------------- pages


@bp.get("/")
def index():
    return page_or_fragment(
        "staging/index.html", "staging/_content.html", live=True, **_list_context(), **_dispatcher_context()
    )


@bp.get("/list")
def list_fragment():
    """The polled list. Answers 204 (nothing to swap) when the page already shows this version."""
    since = request.args.get("since", "")
    if since.isdigit() and int(since) == service.current_version(get_redis(), _prefix()):
        response = make_response("", 204)
        response.headers["Cache-Control"] = "no-store"
        return response
    return _list_response()


@bp.get("/dispatcher")
def dispatcher_fragment():
    return make_response(render_template("staging/_dispatcher.html", **_dispatcher_context()))


def _dropped(version: int):
    """A drop the page shows already: its answer is the page's new version, not the list again."""
    response = _live("staging/_dropped.html", version=version)
    response.headers.update({"HX-Retarget": "#staging-seen", "HX-Reswap": "outerHTML"})
    return response


@bp.post("/<item_id>/move")
@mutation("operator", "staging.move")
def move_item(item_id: str):
    """A drop (neighbours) or a keyboard move (position). The browser shows a drop's new order
    itself: when the move took the page's version exactly one step on (nothing else changed), the
    answer is the new version alone; otherwise, and to a keyboard move, the list as it is now."""
    form = request.form
    seen = form.get("version", "")
    position = form.get("position") or None
    client = get_redis()
    stale = seen.isdigit() and int(seen) != service.current_version(client, _prefix())
    try:
        version = service.move(
            client,
            _prefix(),
            item_id,
            before=form.get("before") or None,
            after=form.get("after") or None,
            position=position,
        )
    except DashboardError as exc:
        return _after_change(error=exc)
    if stale:
        return _after_change(notice=_("The list had changed since you loaded it; it is shown as it is now."))
    if position is None and wants_fragment() and seen.isdigit() and version == int(seen) + 1:
        return _dropped(version)
    return _after_change()


@bp.post("/<item_id>/remove")
@mutation("operator", "staging.remove")
def remove_item(item_id: str):
    try:
        service.remove(get_redis(), _prefix(), item_id)
    except DashboardError as exc:
        return _after_change(error=exc)
    return _after_change(notice=_("Removed %(id)s.", id=item_id))


@bp.post("/<item_id>/requeue")
@mutation("operator", "staging.requeue")
def requeue_item(item_id: str):
    """Return a held item to the end of the list."""
    try:
        service.requeue(get_redis(), _prefix(), item_id)
    except DashboardError as exc:
        return _after_change(error=exc)
    return _after_change(notice=_("Returned %(id)s to the end of the list.", id=item_id))


@bp.post("/<item_id>/release")
@mutation("operator", "staging.release")
def release_item(item_id: str):
    try:
        outcome = service.release(get_redis(), get_celery(), _prefix(), item_id, same_server=_same_server())
    except service.UnreleasableItem as exc:  # its message cannot be built: say why, next to the list
        return _after_change(error=exc)
    if not outcome.released:
        return _after_change(error=service.UnknownItem(_l("%(id)s is no longer staged", id=item_id)))
    service.record_release(db.session, outcome)
    return _after_change(notice=_("Released %(id)s to queue %(queue)s.", id=item_id, queue=outcome.queue))


@bp.post("/release-next")
@mutation("operator", "staging.release_next")
def release_next():
    outcome = service.release_next(get_redis(), get_celery(), _prefix(), same_server=_same_server())
    if not outcome.released and outcome.held:
        held = ", ".join(outcome.held)
        return _after_change(notice=_("Held %(ids)s: its message cannot be built.", ids=held))
    if not outcome.released:
        return _after_change(notice=_("Nothing to release: the staging list is empty."))
    service.record_release(db.session, outcome)
    return _after_change(
        notice=_("Released %(id)s to queue %(queue)s.", id=outcome.item_id, queue=outcome.queue)
    )


@bp.post("/dispatcher")
@mutation("operator", "staging.policy")
def set_policy():
    form = PolicyForm(request.form)
    error = None
    if form.validate():
        try:
            service.set_policy(
                get_redis(),
                _prefix(),
                {
                    "state": form.state.data,
                    "low_water": form.low_water.data,
                    "max_rate": float(form.max_rate.data or 0),
                },
            )
        except DashboardError as exc:
            error = exc.message
    else:
        error = "; ".join(f"{form[name].label.text}: {msgs[0]}" for name, msgs in form.errors.items())
    status = 422 if error else 200
    if wants_fragment():
        context = _dispatcher_context(form if error else None, error)
        return make_response(render_template("staging/_dispatcher.html", **context), status)
    if error:
        context = {**_list_context(), **_dispatcher_context(form, error)}
        return make_response(render_template("staging/index.html", **context), status)
    return redirect(url_for("staging.index"), code=303)


def _edit_page(item, form: ItemForm, error: DashboardError | None = None, status: int = 200):
    return page_or_fragment(
        "staging/edit.html", "staging/_edit.html", item=item, form=form, error=error
    ), status


@bp.get("/<item_id>/edit")
@requires_role("operator")
def edit_item(item_id: str):
    item = service.get_item(get_redis(), _prefix(), item_id)
    form = ItemForm()
    form.load(item)
    return _edit_page(item, form)


@bp.post("/<item_id>/edit")
@mutation("operator", "staging.edit")
def save_item(item_id: str):
    client = get_redis()
    item = service.get_item(client, _prefix(), item_id)
    form = ItemForm(request.form)
    try:
        updated = service.build_item(
            get_celery(),
            form.item_data(item.task),
            staged_by=item.staged_by,
            staged_at=item.staged_at,
            max_bytes=settings()["MAX_PAYLOAD_BYTES"],
            item_id=item.id,
            queues=[item.queue],  # accepted when it was staged
            check_times=False,  # an ETA may have passed while the item waited
        )
        service.edit(client, _prefix(), updated)
    except DashboardError as exc:
        return _edit_page(item, form, exc, exc.status_code)
    return redirect(url_for("staging.index"), code=303)


# ---------------------------------------------------------------- JSON API


@api.get("")
@api_operation(
    _l("The staging list, head first"),
    tag="staging",
    query=schemas.StagingQuery,
    responses={200: schemas.SnapshotOut},
)
def api_list():
    limit = request.args.get("limit", "500")
    if not limit.isdigit() or not 1 <= int(limit) <= 10_000:
        raise Unprocessable(_l("limit must be a whole number from 1 to 10000"), field="limit")
    return jsonify(service.snapshot(get_redis(), _prefix(), limit=int(limit)).to_dict())


@api.post("")
@mutation("operator", "staging.add")
@api_operation(
    _l("Stage an item (or submit it with mode auto)"),
    tag="staging",
    body=schemas.AddBody,
    body_required=True,
    responses={201: schemas.Added, 202: schemas.Added},
    errors=(404, 409, 413),
)
def api_add():
    data = json_body()
    client, celery_app = get_redis(), get_celery()
    item = service.build_item(
        celery_app,
        data,
        staged_by=current_identity().user,
        max_bytes=settings()["MAX_PAYLOAD_BYTES"],
    )
    mode = data.get("mode", "staged")
    at = data.get("at", "tail")
    if mode == "staged" and at == "head":
        service.stage_item(client, _prefix(), item, at="head")
        outcome = "staged"
    else:
        broker = None if _same_server() else get_broker()
        outcome = service.submit(client, celery_app, db.session, _prefix(), item, mode=mode, broker=broker)
    body = {"id": item.id, "outcome": outcome, "version": service.current_version(client, _prefix())}
    return jsonify(body), 201 if outcome == "staged" else 202


@api.post("/<item_id>/move")
@mutation("operator", "staging.move")
@api_operation(
    _l("Move an item"),
    tag="staging",
    body=schemas.MoveBody,
    body_required=True,
    responses={200: schemas.Changed},
    errors=(409,),
)
def api_move(item_id: str):
    data = json_body()
    version = service.move(
        get_redis(),
        _prefix(),
        item_id,
        before=data.get("before"),
        after=data.get("after"),
        position=data.get("position"),
        version=data.get("version"),
    )
    return jsonify({"id": item_id, "version": version})


@api.delete("/<item_id>")
@mutation("operator", "staging.remove")
@api_operation(_l("Remove an item"), tag="staging", responses={200: schemas.Changed}, errors=(409,))
def api_remove(item_id: str):
    return jsonify({"id": item_id, "version": service.remove(get_redis(), _prefix(), item_id)})


@api.post("/<item_id>/requeue")
@mutation("operator", "staging.requeue")
@api_operation(
    _l("Return a held item to the end of the list"),
    tag="staging",
    responses={200: schemas.Changed},
    errors=(409,),
)
def api_requeue(item_id: str):
    return jsonify({"id": item_id, "version": service.requeue(get_redis(), _prefix(), item_id)})


@api.patch("/<item_id>")
@mutation("operator", "staging.edit")
@api_operation(
    _l("Edit an item"),
    tag="staging",
    body=schemas.EditBody,
    responses={200: schemas.Changed},
    errors=(409, 413),
)
def api_edit(item_id: str):
    client = get_redis()
    item = service.get_item(client, _prefix(), item_id)
    data = {**item.to_dict(), **json_body(), "id": item.id}
    updated = service.build_item(
        get_celery(),
        data,
        staged_by=item.staged_by,
        staged_at=item.staged_at,
        max_bytes=settings()["MAX_PAYLOAD_BYTES"],
        item_id=item.id,
        queues=[item.queue],  # accepted when it was staged
        check_times=False,  # an ETA may have passed while the item waited
    )
    return jsonify({"id": item_id, "version": service.edit(client, _prefix(), updated)})


@api.post("/<item_id>/release")
@mutation("operator", "staging.release")
@api_operation(
    _l("Release an item to Celery now"), tag="staging", responses={200: schemas.Released}, errors=(409,)
)
def api_release(item_id: str):
    outcome = service.release(get_redis(), get_celery(), _prefix(), item_id, same_server=_same_server())
    if not outcome.released:
        raise service.UnknownItem(service.no_item(item_id), field="id")
    service.record_release(db.session, outcome)
    return jsonify({"id": item_id, "task_id": item_id, "queue": outcome.queue, "version": outcome.version})


@api.get("/dispatcher")
@api_operation(
    _l("The dispatcher policy and live dispatchers"), tag="staging", responses={200: schemas.DispatcherOut}
)
def api_dispatcher():
    client = get_redis()
    return jsonify(
        {
            **service.get_policy(client, _prefix()).to_dict(),
            "dispatchers": [
                {"instance": b.instance, "age": round(b.age, 1), **b.info}
                for b in heartbeat.alive(client, _prefix(), "dispatcher")
            ],
        }
    )


@api.put("/dispatcher")
@mutation("operator", "staging.policy")
@api_operation(
    _l("Change the dispatcher policy"),
    tag="staging",
    body=schemas.PolicyBody,
    responses={200: schemas.PolicyOut},
)
def api_set_dispatcher():
    return jsonify(service.set_policy(get_redis(), _prefix(), json_body()).to_dict())
