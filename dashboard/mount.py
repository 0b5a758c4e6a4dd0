"""One registration of the dashboard on a Flask app: its settings, Redis, Celery app and database.

A host app may mount the dashboard several times (two prefixes, two key prefixes, two databases):
each registration is a :class:`Mount`, kept in ``app.extensions["taskdeck_mounts"]`` under the
blueprint name it was registered with (``taskdeck`` unless ``name=`` says otherwise). Code reads
the settings of the mount serving the request with :func:`settings`, never ``current_app.config``:
in the standalone app (and in a process) the mount's settings *are* ``app.config``; in a host
app they are the mount's own, and the host's configuration is never written.

Outside a request of a mount (a command, a process, a host's own route) the first mount applies,
or the one a command names (``flask taskdeck migrate --mount NAME``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field

import flask
import redis
from celery import Celery
from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import Engine, create_engine, event

EXTENSION = "taskdeck_mounts"
BIND_KEY = "taskdeck"  # the Flask-SQLAlchemy bind of the dashboard's tables


@dataclass(eq=False)
class Mount:
    name: str  # the dashboard blueprint's name in this registration
    prefix: str  # its URL prefix, without the trailing slash ("" at the root)
    config: Mapping  # app.config of the standalone app or process; the mount's own in a host
    standalone: bool
    redis: redis.Redis
    celery: Celery
    auth: object  # portal.service.AuthSettings
    engine: Engine
    engines: dict = field(default_factory=dict)  # Flask-SQLAlchemy's view: bind key -> engine

    def __post_init__(self) -> None:
        self.engines = {None: self.engine, BIND_KEY: self.engine}


def mounts(app: Flask | None = None) -> dict[str, Mount]:
    return (app or current_app).extensions.setdefault(EXTENSION, {})


def first(app: Flask) -> Mount:
    """The app's first mount: what a command or a process works on."""
    return next(iter(mounts(app).values()))


def add(app: Flask, mount: Mount) -> None:
    if mount.name in mounts(app):
        raise RuntimeError(f"the dashboard is already mounted as {mount.name!r}: pass another name=")
    mounts(app)[mount.name] = mount


def current() -> Mount:
    """The mount serving this request, or the app's first mount outside one."""
    found = mounts()
    if not found:
        raise RuntimeError("the dashboard is not registered on this app")
    if has_request_context():
        for name in reversed(request.blueprints):  # the outermost blueprint comes last
            if name in found:
                return found[name]
    chosen = g.get("taskdeck_mount")  # a command's --mount
    return found[chosen] if chosen in found else next(iter(found.values()))


def serving() -> bool:
    """True inside a request for one of the mounts' routes."""
    if not has_request_context():
        return False
    found = mounts()
    return any(name in found for name in request.blueprints)


def settings() -> Mapping:
    """The current mount's settings (what ``current_app.config`` was for a single flat app)."""
    return current().config


def url_for(endpoint: str, **values) -> str:
    """Flask's ``url_for`` for the current mount's endpoints: ``history.index`` is
    ``taskdeck.history.index`` in the first mount and ``<name>.history.index`` in another."""
    if not endpoint.startswith("."):
        endpoint = f"{current().name}.{endpoint}"
    return flask.url_for(endpoint, **values)


def engine_for(url: str) -> Engine:
    """The mount's own engine; SQLite gets WAL and a busy timeout on this engine's connections
    only (a host's other SQLite databases keep their own settings)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 15})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """WAL so readers never block the writer, and wait for locks instead of failing."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.close()
