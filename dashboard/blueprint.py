"""The whole dashboard as one blueprint, so an existing Flask app can mount it under any prefix.

``create_app`` registers it on a bare Flask app; a host app does the same::

    host.register_blueprint(dashboard, url_prefix="/ops/celery")

Registering it attaches the extensions, reads the configuration (the host's own keys win) and
registers one blueprint per area under the prefix, keeping endpoint names such as
``overview.index``. Request hooks, error pages and template globals apply to the dashboard's
routes only, never to the host's.
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, jsonify, make_response, render_template, request
from flask_babel import get_locale, gettext
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import Forbidden, NotFound, RequestEntityTooLarge

from . import errors, health, i18n, metrics, openapi, polling, security
from .cli import add_commands
from .display import duration, json_text, printable_after, reltime
from .errors import is_api_request
from .extensions import csrf
from .history import views as history_views
from .i18n import in_english
from .overview import views as overview_views
from .portal import views as portal_views
from .portal.permissions import can, current_identity, load_identity, refuse_cross_site
from .queues import views as queues_views
from .registry import views as registry_views
from .schedules import api_views as schedules_api
from .schedules import views as schedules_views
from .setup import ROOT, configure
from .staging import views as staging_views
from .workers import views as workers_views

# The areas' view modules, in the order their blueprints are registered.
AREAS = (
    overview_views,
    registry_views,
    queues_views,
    staging_views,
    schedules_views,
    schedules_api,
    history_views,
    workers_views,
    portal_views,
    openapi,  # /api/v1/openapi.json and /api/v1/docs
)

# (endpoint, label, role needed to see it) in the order the navigation shows them.
NAVIGATION = (
    ("overview.index", _l("Overview"), "viewer"),
    ("registry.index", _l("Tasks"), "viewer"),
    ("queues.index", _l("Queues"), "viewer"),
    ("staging.index", _l("Staging"), "viewer"),
    ("schedules.index", _l("Schedules"), "viewer"),
    ("history.index", _l("History"), "viewer"),
    ("workers.index", _l("Workers"), "viewer"),
    ("audit.index", _l("Audit"), "admin"),
)


class Dashboard(Blueprint):
    """A blueprint that brings the area blueprints, extensions and configuration with it."""

    def register(self, app: Flask, options: dict) -> None:
        super().register(app, options)
        prefix = (options.get("url_prefix") or "").rstrip("/")
        configure(app, options.get("config"))
        names = [self.name]
        for module in AREAS:
            for bp in _blueprints_of(module):
                app.register_blueprint(bp, url_prefix=prefix + (bp.url_prefix or ""))
                names.append(bp.name)
        app.register_blueprint(health.bp, url_prefix=prefix or None)
        app.register_blueprint(metrics.bp, url_prefix=prefix or None)
        names.append(metrics.bp.name)
        attach_hooks(app, names)
        # Health answers carry the headers too, without the other hooks (no identity, no audit).
        app.after_request_funcs.setdefault(health.bp.name, []).append(security.add_headers)
        app.after_request(_headers_outside_any_route(prefix, frozenset(names) | {health.bp.name}))


def _headers_outside_any_route(prefix: str, names: frozenset[str]):
    """An app-wide hook for the answers no route of ours produced but our address did: the slash
    redirect (308), 405 and 404 under the prefix. The blueprints' own hooks miss them because
    URL matching fails before any blueprint is chosen; a host's other addresses are left alone."""

    def add_headers(response):
        if request.blueprint not in names and request.path.startswith(prefix + "/"):
            return security.add_headers(response)
        return response

    return add_headers


def _blueprints_of(module) -> list[Blueprint]:
    return [bp for bp in (getattr(module, "bp", None), getattr(module, "api", None)) if bp is not None]


dashboard = Dashboard(
    "taskdeck",
    __name__,
    static_folder=str(ROOT / "static"),
    static_url_path="/static",
    template_folder=str(ROOT / "templates"),
    cli_group="taskdeck",
)


add_commands(dashboard.cli)


def attach_hooks(app: Flask, names: list[str]) -> None:
    """Identity, security headers, template globals and error pages for the blueprints ``names``.

    Hooks keyed by blueprint name run only for the dashboard's own routes, never a host app's.
    """
    # Globals (not context) so that imported macros see them too; the names are specific enough
    # not to disturb a host app's templates.
    app.jinja_env.globals.update(
        can=can,
        asset=security.asset_url,
        poll_seconds=polling.poll_seconds,
        poll_attrs=polling.poll_attrs,
        poll_choices=polling.CHOICES,
    )
    # Locale-aware display of numbers and datetimes (machine values stay in ``datetime=``).
    app.jinja_env.filters.update(number=i18n.number, localtime=i18n.localtime)
    app.jinja_env.filters["reltime"] = reltime  # <time datetime title=exact>3 minutes ago</time>
    app.jinja_env.filters["duration"] = duration  # 3 hr 20 min, in the page's language
    app.jinja_env.filters["json_text"] = json_text  # JSON for reading: plain text, always escaped
    app.jinja_env.finalize = printable_after(app.jinja_env.finalize)  # a lone surrogate must not fail a page

    for name in names:
        if name.endswith("_api"):
            # The JSON API is guarded by its Content-Type rule (dashboard/api.py) instead.
            csrf.exempt(app.blueprints[name])
        app.before_request_funcs.setdefault(name, []).extend((load_identity, refuse_cross_site))
        app.after_request_funcs.setdefault(name, []).append(security.add_headers)
        app.template_context_processors.setdefault(name, []).append(page_globals)
        handlers = app.error_handler_spec[name][None]  # nested defaultdicts
        handlers[errors.DashboardError] = errors.dashboard_error
        handlers[Forbidden] = http_error_page
        handlers[NotFound] = http_error_page
        handlers[RequestEntityTooLarge] = http_error_page  # MAX_CONTENT_LENGTH, before the body is read
        for unreachable in errors.REDIS_UNREACHABLE:  # Redis, broker or result backend down or hung
            handlers[unreachable] = errors.redis_down


def page_globals() -> dict:
    """What base.html needs besides the view's own context: navigation, identity, languages."""
    return {
        "navigation": [n for n in NAVIGATION if can(n[2])],
        "identity": current_identity(),
        "auth_mode": current_app.config["AUTH_MODE"],
        "flower_url": current_app.config["FLOWER_URL"],
        "embed": security.embed_mode(),
        "languages": i18n.LANGUAGES,
        "current_language": i18n.language_code(get_locale()),
    }


def http_error_page(exc):
    """403, 404 and 413 as the dashboard's own page in the operator's language, or a JSON error for the
    API (and for JSON clients); the standalone app also uses it for addresses nothing serves.
    """
    forbidden, too_large = isinstance(exc, Forbidden), isinstance(exc, RequestEntityTooLarge)
    # A description given to abort() is ours (a lazy message); werkzeug's default is not shown.
    custom = exc.description if exc.description != type(exc).description else None
    if too_large and custom is None:
        limit = request.max_content_length
        custom = _l("the request body is over the %(limit)s-byte limit of this address", limit=limit)
    if is_api_request() or "/api/" in request.path or request.accept_mimetypes.best == "application/json":
        text = in_english(custom) if custom else ("forbidden" if forbidden else "not found")
        response = jsonify({"error": text, "field": "body"} if too_large else {"error": text})
    else:
        if forbidden:
            heading = gettext("Not allowed")
            message = str(custom) if custom else gettext("Your dashboard role does not allow this.")
        elif too_large:
            heading, message = gettext("Request too large"), str(custom)
        else:
            heading = gettext("Page not found")
            message = str(custom) if custom else gettext("Nothing is served at this address.")
        page = render_template("error.html", heading=heading, message=message, **page_globals())
        response = make_response(page)
    response.status_code = exc.code
    return security.add_headers(response)
