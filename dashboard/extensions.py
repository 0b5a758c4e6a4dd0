"""Flask extensions, created unbound; each mount of the dashboard brings its own engine."""

from flask_babel import Babel
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

from . import mount


class Base(DeclarativeBase):
    __bind_key__ = mount.BIND_KEY  # every table of the dashboard is on its own bind


class MountedSQLAlchemy(SQLAlchemy):
    """Flask-SQLAlchemy whose engines are the current mount's (see :mod:`dashboard.mount`).

    It is never ``init_app``-ed on an app, so a host app keeps its own Flask-SQLAlchemy instance,
    its ``SQLALCHEMY_*`` settings and its engines; the session is still scoped to the app context
    and removed at its end (:func:`attach`).
    """

    @property
    def engines(self):
        return mount.current().engines


db = MountedSQLAlchemy(model_class=Base)
migrate = Migrate()
babel = Babel(configure_jinja=False)  # the dashboard renders with its own Jinja environment


def attach(app) -> None:
    """Once per app: end the dashboard's session with each app context."""
    if not app.extensions.get("taskdeck_session"):
        app.teardown_appcontext(db._teardown_session)
        app.extensions["taskdeck_session"] = True
