"""The whole dashboard as one blueprint, so an existing Flask app can mount it under any prefix.

``create_app`` registers it on a bare Flask app; a host app does the same, once or more::

    host.register_blueprint(dashboard, url_prefix="/ops/celery", config={...})
    host.register_blueprint(dashboard, url_prefix="/ops/batch", name="taskdeck_batch", config={...})

Each area is a blueprint nested in it, so endpoints are ``taskdeck.<area>.<view>`` (or
``<name>.<area>.<view>``). Registering it builds the mount's settings, clients and engine (see
:mod:`dashboard.mount`); request hooks, CSRF checks, error pages, the locale and the template
environment apply to the dashboard's routes only, never to the host's.
"""

from __future__ import annotations

from flask import Blueprint, Flask, jsonify, make_response, request
from flask_babel import get_locale, gettext
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import Forbidden, NotFound, RequestEntityTooLarge

from . import csrf, errors, health, i18n, metrics, mount, openapi, security, templating
from .cli import add_commands
from .errors import is_api_request
from .history import views as history_views
from .i18n import in_english
from .overview import views as overview_views
from .portal import views as portal_views
from .portal.permissions import can, current_identity, load_identity, refuse_cross_site
from .queues import views as queues_views
from .registry import views as registry_views
from .schedules import api_views as schedules_api
from .schedules import views as schedules_views
from .setup import ROOT, mount_on
from .staging import views as staging_views
from .templating import render_template
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
    health,  # /healthz and /readyz: headers only, no identity or audit (they answer a hung Redis)
    metrics,
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


def _blueprints_of(module) -> list[Blueprint]:
    return [bp for bp in (getattr(module, "bp", None), getattr(module, "api", None)) if bp is not None]


AREA_BLUEPRINTS = [bp for module in AREAS for bp in _blueprints_of(module)]
API_BLUEPRINTS = [bp for bp in AREA_BLUEPRINTS if bp.name.endswith("_api")]


class Dashboard(Blueprint):
    """A blueprint that brings its areas, settings, clients and database with it.

    ``config=`` (a mapping) wins over the environment for this registration; ``name=`` tells two
    registrations apart. ``standalone=True`` is ``create_app``'s: the app is the dashboard's own.
    """

    def register(self, app: Flask, options: dict) -> None:
        name = options.get("name", self.name)
        prefix = (options.get("url_prefix") or "").rstrip("/")
        mount_on(
            app, options.get("config"), name=name, prefix=prefix, standalone=bool(options.get("standalone"))
        )
        super().register(app, options)
        templating.install(app, {"can": can})
        csrf.exempt_with_host(app, API_BLUEPRINTS)
        app.after_request(_headers_outside_any_route(prefix, name))


def _headers_outside_any_route(prefix: str, name: str):
    """An app-wide hook for the answers no route of ours produced but our address did: the slash
    redirect (308), 405 and 404 under the prefix. The blueprint's own hooks miss them because URL
    matching fails before any blueprint is chosen; a host's other addresses are left alone."""

    def add_headers(response):
        if name not in request.blueprints and (
            request.path == prefix or request.path.startswith(prefix + "/")
        ):
            return security.add_headers(response)
        return response

    return add_headers


dashboard = Dashboard(
    "taskdeck",
    __name__,
    static_folder=str(ROOT / "static"),
    static_url_path="/static",
    cli_group="taskdeck",
)
for _area in AREA_BLUEPRINTS:
    dashboard.register_blueprint(_area)
add_commands(dashboard.cli)


def _area_name() -> str:
    """``history`` for ``taskdeck.history`` and ``taskdeck.history_api``."""
    return (request.blueprint or "").rpartition(".")[2].removesuffix("_api")


@dashboard.url_value_preprocessor
def enter_mount(_endpoint, _values) -> None:
    """First for every route of a mount (before an area's own preprocessors, which may raise the
    body limit, and before any hook): its body limit, language and time zone."""
    config = mount.settings()
    request.max_content_length = config["MAX_CONTENT_LENGTH"]
    i18n.enter_request(str(config.get("BABEL_DEFAULT_TIMEZONE") or "UTC"))


@dashboard.before_request
def guard():
    """Who is asking, a change from another site, the CSRF token (not on /healthz and /readyz)."""
    if _area_name() == health.bp.name:
        return None
    refused = load_identity()
    if refused is not None:
        return refused
    refuse_cross_site()
    if not is_api_request() and mount.settings().get("WTF_CSRF_ENABLED", True):
        csrf.protect()
    return None


dashboard.after_request(security.add_headers)


@dashboard.context_processor
def _page_context() -> dict:
    return page_globals()


def page_globals() -> dict:
    """What base.html needs besides the view's own context: navigation, identity, languages."""
    return {
        "navigation": [n for n in NAVIGATION if can(n[2])],
        "identity": current_identity(),
        "auth_mode": mount.settings()["AUTH_MODE"],
        "flower_url": mount.settings()["FLOWER_URL"],
        "current_area": _area_name(),
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


def _register_error_pages() -> None:
    handlers = {
        errors.DashboardError: errors.dashboard_error,
        Forbidden: http_error_page,
        NotFound: http_error_page,
        RequestEntityTooLarge: http_error_page,  # MAX_CONTENT_LENGTH, before the body is read
    }
    for unreachable in errors.REDIS_UNREACHABLE:  # Redis, broker or result backend down or hung
        handlers[unreachable] = errors.redis_down
    for exc, handler in handlers.items():
        dashboard.register_error_handler(exc, handler)


_register_error_pages()
