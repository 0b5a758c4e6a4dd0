"""Settings and extensions of an app that runs the dashboard: the web app and the processes.

``configure`` is what registering the dashboard blueprint does first; ``create_process_app`` is
the same app without any page, for processes (beat) that need the settings, the database, Redis
and the Celery app but never a view.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from . import config as config_module
from . import security
from .celery_link import load_celery_app
from .core.broker import client_for
from .extensions import babel, csrf, db, migrate

ROOT = Path(__file__).resolve().parent.parent


def create_process_app(overrides: dict | None = None) -> Flask:
    """A configured app with no blueprint: what a background process needs, and nothing it does not."""
    app = Flask("dashboard", instance_path=str(ROOT / "instance"), static_folder=None, template_folder=None)
    configure(app, overrides)
    return app


_UNSET = object()


def _set_by_host(app: Flask, key: str) -> bool:
    """Whether the app's own configuration already gives ``key`` a value of its choosing.

    Flask fills its own keys (``SECRET_KEY``, ``SESSION_COOKIE_*``, ...) with defaults: a key
    still at Flask's default was not chosen by anyone, so the dashboard's setting applies.
    """
    if key not in app.config:
        return False
    return app.config[key] != Flask.default_config.get(key, _UNSET)


def configure(app: Flask, overrides: dict | None = None) -> None:
    """Read settings and attach extensions.

    Precedence, for every key: ``overrides`` (passed when the blueprint is registered) > a value
    the host app chose itself > the environment > the dashboard's defaults. Flask's own keys
    count as unset while they hold Flask's defaults, so ``SECRET_KEY`` and the session cookie
    settings from the environment take effect in the standalone app.
    """
    instance_path = Path(app.instance_path)
    settings = config_module.load(instance_path)
    settings.update(overrides or {})
    if "INSTANCE_PATH" in settings:
        instance_path = Path(str(settings.pop("INSTANCE_PATH")))
        app.instance_path = str(instance_path)
    for key, value in settings.items():
        if (overrides and key in overrides) or not _set_by_host(app, key):
            app.config[key] = value
    config_module.finish(app.config, instance_path)
    config_module.validate(app.config)
    from .portal.service import AuthSettings

    app.extensions["taskdeck_auth"] = AuthSettings.from_config(app.config)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    from .i18n import install, select_locale

    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(ROOT / "translations"))
    babel.init_app(app, locale_selector=select_locale)
    install(babel)
    redis_url, master = app.config["REDIS_URL"], app.config["REDIS_SENTINEL_MASTER"]
    socket_timeout = float(app.config["REDIS_SOCKET_TIMEOUT"])
    app.extensions["taskdeck_redis"] = client_for(redis_url, master, socket_timeout)
    app.extensions["taskdeck_celery"] = load_celery_app(
        app.config["CELERY_APP"],
        app.config["CELERY_BROKER_URL"],
        app.config["CELERY_RESULT_BACKEND"],
        app.config["REDIS_SENTINEL_MASTER"],
        socket_timeout,
    )
    from .core import runs as _runs  # noqa: F401 - registers tables
    from .portal import models as _portal_models  # noqa: F401

    security.install_proxy_fix(app)
