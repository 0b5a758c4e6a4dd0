"""Pages and JSON API of the history area."""

from __future__ import annotations

import re

from flask import Blueprint, Response, jsonify, make_response, redirect, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..api import api_blueprint, json_body
from ..core.bounds import whole_number
from ..core.errors import DashboardError, Unprocessable
from ..extensions import db
from ..mount import settings, url_for
from ..openapi import api_operation
from ..portal.permissions import mutation
from ..redis_client import get_celery, get_redis
from ..rendering import fragment_only, page_or_fragment, wants_fragment
from ..templating import render_template
from . import actions, query, schemas, service, timeline, workflow
from .charts import WINDOWS, build_charts
from .merge import FINAL

bp = Blueprint("history", __name__, url_prefix="/history")
api = api_blueprint("history_api", __name__, "runs")


def _filters_or_error(data) -> tuple[service.Filters, Unprocessable | None]:
    try:
        return service.Filters.from_mapping(data), None
    except Unprocessable as exc:
        return service.Filters(), exc


def _content_context(filters: service.Filters, *, notice: str | None = None, error=None) -> dict:
    window = request.args.get("window", "hour")
    window = window if window in WINDOWS else "hour"
    before, after = request.args.get("before"), request.args.get("after")
    page = service.list_runs(
        db.session,
        filters,
        before=before if error is None else None,
        after=after if error is None else None,
    )
    newest_first = error is None and not before and not after
    return {
        # The newest page polls for runs recorded after its top row (see ``live``).
        "live_after": (page.runs[0].seq if page.runs else 0) if newest_first else None,
        "live_shown": len(page.runs),
        "runs_page": page,
        "filters": filters,
        "error": error,
        "notice": notice,
        "charts": build_charts(db.session, window),
        "window": window,
        "states": service.STATES,
        "origins": service.ORIGINS,
        "final_states": FINAL,
        "scan_rows": query.SCAN_ROWS,
        # A refused search stays in its box, to be mended.
        "typed_q": str(request.values.get("q", ""))[:255] if error is not None else filters.q,
    }


@bp.get("/")
def index():
    filters, error = _filters_or_error(request.args)
    try:
        context = _content_context(filters, notice=request.args.get("notice"), error=error)
    except Unprocessable as exc:  # a bad cursor
        context = _content_context(filters, error=exc)
        error = exc
    response = page_or_fragment("history/index.html", "history/_content.html", live=True, **context)
    if error is not None:
        response.status_code = 422
    return response


# Rows a live list gathers before it is drawn again from the newest page (the DOM stays bounded).
LIVE_MAX_ROWS = 200


@bp.get("/live")
def live():
    """The newest page's one poll: runs recorded since it was drawn (``seq`` above ``after``) that
    match its filter, and the unfinished rows it shows (``live`` ids) as they are now. Without
    ``after`` only the rows are refreshed.

    The answer replaces the poller (with the new cursor) and puts the new rows under it, at the
    top; the refreshed rows replace theirs out of band, and a finished one leaves the poll.
    204 (nothing to swap) when there is neither. Past :data:`LIVE_MAX_ROWS` rows shown, or more new
    runs than a page holds, the whole list is drawn again from the newest page.
    """
    filters, error = _filters_or_error(request.args)
    if error is not None:
        raise error
    after = request.args.get("after")
    page = service.list_runs(db.session, filters, after=after) if after else service.Page(runs=[])
    refreshed = service.runs_by_id(db.session, request.args.getlist("live"), limit=LIVE_MAX_ROWS)
    if not page.runs and not refreshed:
        return Response(status=204)
    shown = whole_number(request.args.get("shown") or 0, "shown", 0, 10**9) + len(page.runs)
    if page.newer is not None or shown > LIVE_MAX_ROWS:
        response = fragment_only("history/_content.html", **_content_context(filters))
        response.headers["HX-Retarget"] = "#history-content"
        response.headers["HX-Reswap"] = "outerHTML"
        return response
    return fragment_only(
        "history/_live.html",
        runs=page.runs,
        refreshed=refreshed,
        filters=filters,
        live_after=page.runs[0].seq if page.runs else after,
        live_shown=shown,
        **_run_context(),
    )


@bp.get("/charts")
def charts():
    window = request.args.get("window", "hour")
    window = window if window in WINDOWS else "hour"
    return fragment_only("history/_charts.html", charts=build_charts(db.session, window), window=window)


@bp.get("/runs/<task_id>")
def run_detail(task_id: str):
    """One run's page; other areas link here by task id."""
    return run_page(task_id)


def run_page(task_id: str, *, status: int = 200, **extra):
    """The run page (or its polled fragment); ``extra`` goes to the page's own forms."""
    run = service.get_run(db.session, task_id)
    related = service.related_runs(db.session, run)
    flow = workflow.workflow_of(db.session, run)
    found = timeline.attempts(run.timeline)
    end = timeline.ending(run.state, run.finished_at, run.exception, found) if run.state in FINAL else None
    if not wants_fragment():
        extra.setdefault("changes", actions.changeable_values(get_celery(), run))
    response = page_or_fragment(
        "history/run.html",
        "history/_run.html",
        live=True,
        run=run,
        related=related,
        workflow=flow,
        workflow_limit=workflow.MAX_NODES,
        workflow_depth=workflow.SHOWN_DEPTH,
        attempts=found,
        dropped=timeline.dropped(run.timeline),
        ending=end,
        **extra,
        **_run_context(),
    )
    response.status_code = status
    if wants_fragment() and run.state in FINAL and not (flow and flow.unfinished):
        response.status_code = 286  # finished, and so is its workflow: stop polling
    return response


def _run_context() -> dict:
    return {
        "display_limit": service.DISPLAY_LIMIT,
        "final_states": FINAL,
    }


def _revoke_workflow(task_id: str, terminate: bool) -> actions.BulkOutcome:
    config = settings()
    return actions.revoke_workflow(
        db.session, get_celery(), get_redis(), config["TASKDECK_KEY_PREFIX"], task_id, terminate=terminate
    )


@bp.get("/runs/<task_id>/download/<field>")
def download(task_id: str, field: str):
    """The stored value of one field as a plain-text attachment (never rendered as a page)."""
    if field not in service.DOWNLOADABLE:
        raise Unprocessable(
            _l("field must be one of %(choices)s", choices=", ".join(service.DOWNLOADABLE)), field="field"
        )
    run = service.get_run(db.session, task_id)
    safe_id = re.sub(r"[^A-Za-z0-9_.-]", "_", task_id)[:64]
    response = make_response(getattr(run, field) or "")
    response.mimetype = "text/plain"
    response.charset = "utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{safe_id}-{field}.txt"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# ----------------------------------------------------------------- actions (HTML)


def _after_bulk(filters: service.Filters, notice: str):
    if wants_fragment():
        return render_template("history/_content.html", **_content_context(filters, notice=notice))
    return redirect(url_for("history.index", **filters.as_dict(), notice=notice))


def _form_filters() -> service.Filters:
    filters, _error = _filters_or_error(request.form)
    return filters


@bp.post("/bulk/retry")
@mutation("operator", "history.retry")
def bulk_retry():
    outcome = actions.retry_runs(db.session, get_celery(), request.form.getlist("task_id"))
    return _after_bulk(_form_filters(), outcome.summary("retry"))


@bp.post("/bulk/retry-failed")
@mutation("operator", "history.retry")
def bulk_retry_failed():
    filters = _form_filters()
    ids = actions.failed_ids(db.session, filters)
    if not ids:
        return _after_bulk(filters, _("No failed runs match the filter"))
    outcome = actions.retry_runs(db.session, get_celery(), ids)
    return _after_bulk(filters, outcome.summary("retry"))


@bp.post("/bulk/revoke")
@mutation("operator", "history.revoke")
def bulk_revoke():
    terminate = request.form.get("terminate") == "1"
    outcome = actions.revoke_runs(
        db.session, get_celery(), request.form.getlist("task_id"), terminate=terminate
    )
    return _after_bulk(_form_filters(), outcome.summary("terminate" if terminate else "revoke"))


@bp.post("/bulk/delete")
@mutation("admin", "history.delete")
def bulk_delete():
    outcome = actions.delete_runs(db.session, request.form.getlist("task_id"))
    return _after_bulk(_form_filters(), outcome.summary("delete"))


@bp.post("/runs/<task_id>/retry")
@mutation("operator", "history.retry")
def retry(task_id: str):
    new_run = actions.retry_run(db.session, get_celery(), task_id)
    return _to_run_page(new_run.task_id)


@bp.post("/runs/<task_id>/revoke")
@mutation("operator", "history.revoke")
def revoke(task_id: str):
    terminate = request.form.get("terminate") == "1"
    actions.revoke_runs(db.session, get_celery(), [task_id], terminate=terminate)
    return _to_run_page(task_id)


@bp.post("/runs/<task_id>/revoke-workflow")
@mutation("operator", "history.revoke_workflow")
def revoke_workflow(task_id: str):
    _revoke_workflow(task_id, request.form.get("terminate") == "1")
    return _to_run_page(task_id)


def _to_run_page(task_id: str):
    """After an action from a run's page: htmx follows HX-Redirect, a plain form the redirect."""
    target = url_for("history.run_detail", task_id=task_id)
    if wants_fragment():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


# ----------------------------------------------------------------- JSON API


@api.get("")
@api_operation(
    _l("List runs, newest first"), tag="runs", query=schemas.RunsQuery, responses={200: schemas.RunPage}
)
def api_list():
    filters = service.Filters.from_mapping(request.args)
    page = service.list_runs(
        db.session,
        filters,
        before=request.args.get("before"),
        after=request.args.get("after"),
        limit=request.args.get("limit"),
    )
    return jsonify(
        {
            "runs": [service.run_json(run, full=False) for run in page.runs],
            "next_cursor": page.older,
            "prev_cursor": page.newer,
        }
    )


@api.get("/<task_id>")
@api_operation(_l("One run, with its result or traceback"), tag="runs", responses={200: schemas.RunDetail})
def api_detail(task_id: str):
    return jsonify(service.run_json(service.get_run(db.session, task_id)))


@api.post("/<task_id>/retry")
@mutation("operator", "history.retry")
@api_operation(_l("Run a finished run again"), tag="runs", responses={201: schemas.Retried})
def api_retry(task_id: str):
    json_body()
    new_run = actions.retry_run(db.session, get_celery(), task_id)
    body = service.run_json(new_run)
    body["url"] = url_for("history.run_detail", task_id=new_run.task_id)
    return jsonify(body), 201


@api.post("/<task_id>/revoke")
@mutation("operator", "history.revoke")
@api_operation(_l("Revoke a run"), tag="runs", body=schemas.RevokeBody, responses={202: schemas.Revoked})
def api_revoke(task_id: str):
    terminate = _terminate_flag(json_body())
    service.get_run(db.session, task_id)
    outcome = actions.revoke_runs(db.session, get_celery(), [task_id], terminate=terminate)
    if not outcome.done:
        raise DashboardError(_l("the run has already finished"), field="task_id")
    return jsonify({"id": task_id, "revoked": True, "terminate": terminate}), 202


@api.get("/<task_id>/workflow")
@api_operation(
    _l("The workflow (chain, group, chord) a run belongs to, as a tree"),
    tag="runs",
    responses={200: schemas.WorkflowOut},
)
def api_workflow(task_id: str):
    run = service.get_run(db.session, task_id)
    flow = workflow.workflow_of(db.session, run)
    if flow is None:
        return jsonify({"id": task_id, "runs": 1, "truncated": False, "states": {run.state: 1}, "tree": []})
    return jsonify(
        {
            "id": task_id,
            "runs": len(flow.runs),
            "truncated": flow.truncated,
            "states": flow.states(),
            "tree": [service.node_json(node) for node in flow.nodes],
        }
    )


@api.post("/<task_id>/revoke-workflow")
@mutation("operator", "history.revoke_workflow")
@api_operation(
    _l("Revoke every unfinished run of a run's workflow, and its steps sent later"),
    tag="runs",
    body=schemas.RevokeBody,
    responses={202: schemas.WorkflowRevoked},
)
def api_revoke_workflow(task_id: str):
    terminate = _terminate_flag(json_body())
    outcome = _revoke_workflow(task_id, terminate)
    return jsonify({"id": task_id, "revoked": outcome.done, "terminate": terminate}), 202


def _terminate_flag(data: dict) -> bool:
    terminate = data.get("terminate", False)
    if not isinstance(terminate, bool):
        raise Unprocessable(_l("terminate must be true or false"), field="terminate")
    return terminate


@api.delete("/<task_id>")
@mutation("admin", "history.delete")
@api_operation(_l("Delete a run from the history"), tag="runs", responses={204: None})
def api_delete(task_id: str):
    service.get_run(db.session, task_id)
    actions.delete_runs(db.session, [task_id])
    return "", 204


from . import error_views, retry_views  # noqa: E402,F401  (their routes are on bp and api)
