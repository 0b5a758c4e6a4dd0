"""The dashboard's own Jinja environment: its templates, globals, filters and translations.

A host app's ``jinja_env`` is never touched: no global, filter, extension or ``finalize`` of the
dashboard reaches the host's templates, and a host template named ``base.html`` cannot replace
the dashboard's. Rendering still runs the app's context processors (the host's app-wide ones and
the dashboard's, which apply to its own routes) and Flask's template signals.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app, g, get_flashed_messages, request, session
from flask.signals import before_render_template, template_rendered
from flask.templating import Environment
from jinja2 import FileSystemLoader

from . import csrf, i18n, mount, polling, security
from .display import duration, json_text, printable, reltime

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
EXTENSION = "taskdeck_jinja"
AUTOESCAPED = (".html", ".htm", ".xml", ".xhtml", ".svg")
_AREA_FILTERS: dict[str, object] = {}


def template_filter(name: str):
    """An area's own filter, in the dashboard's environment (``app_template_filter`` would put it
    in the host's)."""

    def register(function):
        _AREA_FILTERS[name] = function
        return function

    return register


def _autoescape(name: str | None) -> bool:
    return name is None or name.endswith(AUTOESCAPED)


def build(app: Flask, extra_globals: dict) -> Environment:
    env = Environment(
        app,
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=_autoescape,
        auto_reload=app.debug
        if app.config.get("TEMPLATES_AUTO_RELOAD") is None
        else bool(app.config["TEMPLATES_AUTO_RELOAD"]),
        extensions=["jinja2.ext.i18n"],
    )
    env.policies["json.dumps_function"] = app.json.dumps
    domain = i18n.DOMAIN
    env.install_gettext_callables(
        gettext=domain.gettext, ngettext=domain.ngettext, pgettext=domain.pgettext, newstyle=True
    )
    # Globals (not context) so that imported macros see them too.
    env.globals.update(
        url_for=mount.url_for,
        get_flashed_messages=get_flashed_messages,
        request=request,
        session=session,
        g=g,
        csrf_token=csrf.token,
        asset=security.asset_url,
        poll_seconds=polling.poll_seconds,
        poll_attrs=polling.poll_attrs,
        poll_choices=polling.CHOICES,
        **extra_globals,
    )
    # Locale-aware display of numbers and datetimes (machine values stay in ``datetime=``).
    env.filters.update(number=i18n.number, localtime=i18n.localtime)
    env.filters["reltime"] = reltime  # <time datetime title=exact>3 minutes ago</time>
    env.filters["duration"] = duration  # 3 hr 20 min, in the page's language
    env.filters["json_text"] = json_text  # JSON for reading: plain text, always escaped
    env.filters.update(_AREA_FILTERS)
    env.finalize = printable  # a lone surrogate must not fail a page
    return env


def install(app: Flask, extra_globals: dict) -> None:
    """Once per app (every mount shares it: what differs per mount, ``url_for`` finds itself)."""
    if EXTENSION not in app.extensions:
        app.extensions[EXTENSION] = build(app, extra_globals)


def environment(app: Flask | None = None) -> Environment:
    return (app or current_app).extensions[EXTENSION]


def render_template(template: str, /, **context) -> str:
    """Flask's ``render_template``, with the dashboard's environment."""
    app = current_app._get_current_object()
    template = environment(app).get_or_select_template(template)
    app.update_template_context(context)
    before_render_template.send(app, _async_wrapper=app.ensure_sync, template=template, context=context)
    rendered = template.render(context)
    template_rendered.send(app, _async_wrapper=app.ensure_sync, template=template, context=context)
    return rendered
