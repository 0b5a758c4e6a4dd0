"""Settings, clients and extensions of an app that runs the dashboard: the web app and the processes.

``mount_on`` is what registering the dashboard blueprint does first; ``create_process_app`` is
the same app without any page, for processes (beat) that need the settings, the database, Redis
and the Celery app but never a view.
"""

from __future__ import annotations

from pathlib import Path

from flask import Config, Flask

from . import config as config_module
from . import mount, security
from .celery_link import load_celery_app
from .core.broker import client_for
from .extensions import attach, babel, db, migrate

ROOT = Path(__file__).resolve().parent.parent


def create_process_app(overrides: dict | None = None) -> Flask:
    """A configured app with no blueprint: what a background process needs, and nothing it does not."""
    app = Flask("dashboard", instance_path=str(ROOT / "instance"), static_folder=None, template_folder=None)
    mount_on(app, overrides, standalone=True)
    return app


def mount_on(
    app: Flask, overrides: dict | None = None, *, name: str = "taskdeck", prefix: str = "", standalone: bool
) -> mount.Mount:
    """Read one mount's settings and attach its clients, engine and the extensions.

    Precedence, for every key: ``overrides`` (``config=`` when the blueprint is registered) > the
    environment > the dashboard's defaults (``instance/secret_key`` for ``SECRET_KEY``).

    ``standalone`` (the app of ``create_app`` or a process): the settings are written into
    ``app.config``, Flask's own keys included, and the app gets ProxyFix, Flask-Migrate and
    Flask-Babel's locale selector. In a host app nothing of the host's is written: the mount keeps
    its settings to itself, the host's ``SECRET_KEY`` and session cookie apply, and the host's own
    Flask-SQLAlchemy, Flask-Babel, CSRFProtect and Jinja environment are left as they are.
    """
    settings = config_module.load()
    settings.update(overrides or {})
    instance_path = Path(str(settings.pop("INSTANCE_PATH", None) or app.instance_path))
    if standalone:
        app.instance_path = str(instance_path)
        app.config.update(settings)
        config = app.config
    else:
        if not app.secret_key:
            raise RuntimeError(
                "mounting Taskdeck needs the host app's SECRET_KEY (its sessions carry the CSRF token)"
            )
        config = Config(str(instance_path))
        config.update(settings)
        config.pop("SECRET_KEY", None)  # the host's applies
    config_module.finish(config, instance_path, database_name=name, standalone=standalone)
    config_module.validate(config)
    from .portal.service import AuthSettings

    socket_timeout = float(config["REDIS_SOCKET_TIMEOUT"])
    mounted = mount.Mount(
        name=name,
        prefix=prefix,
        config=config,
        standalone=standalone,
        redis=client_for(config["REDIS_URL"], config["REDIS_SENTINEL_MASTER"], socket_timeout),
        celery=load_celery_app(
            config["CELERY_APP"],
            config["CELERY_BROKER_URL"],
            config["CELERY_RESULT_BACKEND"],
            config["REDIS_SENTINEL_MASTER"],
            socket_timeout,
        ),
        auth=AuthSettings.from_config(config),
        engine=mount.engine_for(str(config["DATABASE_URL"])),
    )
    mount.add(app, mounted)
    attach(app)
    from .i18n import install, select_locale

    if "babel" not in app.extensions:
        # Formatting needs a Flask-Babel on the app; a host's own is used as it is.
        selector = select_locale if standalone else None
        babel.init_app(
            app, default_translation_directories=str(ROOT / "translations"), locale_selector=selector
        )
        install(babel)
    if standalone:
        migrate.init_app(app, db, directory=str(ROOT / "migrations"))
        security.install_proxy_fix(app)
    from .core import runs as _runs  # noqa: F401 - registers tables
    from .portal import models as _portal_models  # noqa: F401

    return mounted
