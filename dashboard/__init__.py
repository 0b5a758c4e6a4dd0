"""Taskdeck: a Flask + HTMX operations dashboard for Celery."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, g

from . import config as config_module
from . import errors
from .celery_link import load_celery_app
from .extensions import csrf, db, migrate
from .redis_client import connect

ROOT = Path(__file__).resolve().parent.parent
AREAS = ("overview", "registry", "queues", "staging", "schedules", "history", "workers")
AUTH_MODES = ("none",)


def create_app(overrides: dict | None = None) -> Flask:
    """Build the dashboard app; ``overrides`` win over environment variables."""
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    settings = config_module.load(Path(app.instance_path))
    settings.update(overrides or {})
    instance_path = Path(str(settings.pop("INSTANCE_PATH", app.instance_path)))
    app.instance_path = str(instance_path)
    config_module.finish(settings, instance_path)
    settings.setdefault("CELERY_BROKER_URL", None)
    settings["CELERY_BROKER_URL"] = settings["CELERY_BROKER_URL"] or settings["REDIS_URL"]
    settings["CELERY_RESULT_BACKEND"] = settings.get("CELERY_RESULT_BACKEND") or settings["REDIS_URL"]
    app.config.update(settings)
    if app.config["AUTH_MODE"] not in AUTH_MODES:
        raise ValueError(f"AUTH_MODE must be one of {AUTH_MODES}, not {app.config['AUTH_MODE']!r}")

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    app.extensions["taskdeck_redis"] = connect(app.config["REDIS_URL"])
    app.extensions["taskdeck_celery"] = load_celery_app(
        app.config["CELERY_APP"], app.config["CELERY_BROKER_URL"], app.config["CELERY_RESULT_BACKEND"]
    )

    from .history import models as _history_models  # noqa: F401 - registers tables
    from .portal import models as _portal_models  # noqa: F401
    from .portal.permissions import load_identity

    app.before_request(load_identity)
    errors.register(app)
    _register_blueprints(app)
    _register_template_helpers(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from importlib import import_module

    from . import health

    app.register_blueprint(health.bp)
    for area in AREAS:
        module = import_module(f".{area}.views", __name__)
        app.register_blueprint(module.bp)
        api = getattr(module, "api", None)
        if api is not None:
            csrf.exempt(api)
            app.register_blueprint(api)


def _register_template_helpers(app: Flask) -> None:
    from . import polling
    from .portal.permissions import current_identity

    app.jinja_env.globals.update(
        poll_seconds=polling.poll_seconds, poll_attrs=polling.poll_attrs, poll_choices=polling.CHOICES
    )

    @app.context_processor
    def inject_globals():
        return {
            "areas": NAVIGATION,
            "identity": current_identity() if "identity" in g else None,
            "auth_mode": app.config["AUTH_MODE"],
            "flower_url": app.config["FLOWER_URL"],
        }


# (endpoint, label) in the order the navigation shows them.
NAVIGATION = (
    ("overview.index", "Overview"),
    ("registry.index", "Tasks"),
    ("queues.index", "Queues"),
    ("staging.index", "Staging"),
    ("schedules.index", "Schedules"),
    ("history.index", "History"),
    ("workers.index", "Workers"),
)
