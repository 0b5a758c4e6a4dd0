"""Shared fixtures: real Redis, real SQL with migrations, a real worker, a real browser."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient

from tests.support.servers import ROOT, CeleryWorker, LiveServer, RedisServer

_session_redis: RedisServer | None = None

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_configure(config):
    """Start the session's redis-server before any test module imports the Celery app."""
    global _session_redis
    base = Path(config.cache.mkdir("redis-data"))
    _session_redis = RedisServer(base / uuid.uuid4().hex).start()
    os.environ["REDIS_URL"] = _session_redis.url
    os.environ["CELERY_BROKER_URL"] = _session_redis.url
    os.environ["CELERY_RESULT_BACKEND"] = _session_redis.url
    os.environ.pop("FLOWER_URL", None)


def pytest_unconfigure(config):
    if _session_redis is not None:
        _session_redis.stop()
        shutil.rmtree(_session_redis.data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> RedisServer:
    return _session_redis


@pytest.fixture
def redis_client(redis_server) -> redis.Redis:
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


@pytest.fixture
def key_prefix() -> str:
    """A Redis key prefix of this test's own, so tests never see each other's keys."""
    return f"td-test-{uuid.uuid4().hex[:10]}:"


def app_config(tmp_path: Path, redis_url: str, database_url: str, key_prefix: str) -> dict:
    return {
        "TESTING": True,
        "INSTANCE_PATH": tmp_path / "instance",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "CELERY_RESULT_BACKEND": redis_url,
        "SECRET_KEY": "test-secret",
        "TASKDECK_KEY_PREFIX": key_prefix,
        "FLOWER_URL": None,
    }


# Set (by `make test-postgres`) to a PostgreSQL server's admin URL: every test database is then
# created there from a migrated template instead of being an SQLite file.
POSTGRES_ADMIN_URL = os.environ.get("TASKDECK_TEST_DATABASE_URL")


def _postgres_admin():
    from sqlalchemy import create_engine

    return create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")


def _postgres_url(name: str) -> str:
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def migrate(tmp_path: Path, redis_url: str, database_url: str) -> None:
    """Apply every migration to ``database_url``, as `make run` does."""
    from flask_migrate import upgrade

    from dashboard import create_app
    from dashboard.extensions import db

    app = create_app(app_config(tmp_path, redis_url, database_url, "td-migrate:"))
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"), revision="heads")
        db.engine.dispose()


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory, redis_server) -> str:
    """A database with every migration applied, copied for each test (faster than migrating)."""
    tmp = tmp_path_factory.mktemp("db-template")
    if not POSTGRES_ADMIN_URL:
        path = tmp / "template.db"
        migrate(tmp, redis_server.url, f"sqlite:///{path}")
        yield str(path)
        return
    from sqlalchemy import text

    name = f"td_template_{uuid.uuid4().hex[:10]}"
    admin = _postgres_admin()
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    migrate(tmp, redis_server.url, _postgres_url(name))
    yield name
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def _migrated_copy(migrated_database: str, path: Path):
    """A copy of the migrated template: the SQLite file ``path``, or a PostgreSQL database."""
    if not POSTGRES_ADMIN_URL:
        shutil.copyfile(migrated_database, path)
        yield f"sqlite:///{path}"
        return
    yield from _postgres_database(template=migrated_database)


@pytest.fixture
def database_url(tmp_path, migrated_database) -> str:
    """A migrated database of this test's own: an SQLite file, or a PostgreSQL database."""
    yield from _migrated_copy(migrated_database, tmp_path / "taskdeck.db")


@pytest.fixture
def other_database_url(tmp_path, migrated_database) -> str:
    """A second migrated database of this test's own (a host app's second mount)."""
    yield from _migrated_copy(migrated_database, tmp_path / "other.db")


@pytest.fixture
def empty_database_url(tmp_path) -> str:
    """A database with no tables at all."""
    if not POSTGRES_ADMIN_URL:
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    yield from _postgres_database(template="template0")


def _postgres_database(template: str):
    from sqlalchemy import text

    name = f"td_{uuid.uuid4().hex[:12]}"
    admin = _postgres_admin()
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name} TEMPLATE {template}"))
    try:
        yield _postgres_url(name)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture
def app(tmp_path, redis_server, database_url, key_prefix):
    from dashboard import create_app
    from dashboard.extensions import db

    app = create_app(app_config(tmp_path, redis_server.url, database_url, key_prefix))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


class CsrfClient(FlaskClient):
    """A test client that sends a valid CSRF token header, as the page's htmx does."""

    def open(self, *args, **kwargs):
        headers = dict(kwargs.pop("headers", None) or {})
        method = (kwargs.get("method") or "GET").upper()
        if method not in ("GET", "HEAD", "OPTIONS") and "X-CSRFToken" not in headers:
            headers["X-CSRFToken"] = self.csrf_token()
        return super().open(*args, headers=headers, **kwargs)

    def csrf_token(self) -> str:
        from flask import session
        from flask_wtf.csrf import generate_csrf

        app = self.application
        with app.test_request_context():
            with self.session_transaction() as stored:
                session.update(stored)
            token = generate_csrf()
            raw = session.get("csrf_token")
        with self.session_transaction() as stored:
            stored["csrf_token"] = raw
        return token


@pytest.fixture
def client(app) -> FlaskClient:
    app.test_client_class = CsrfClient
    return app.test_client()


@pytest.fixture
def raw_client(app) -> FlaskClient:
    """A test client that sends no CSRF token unless told to."""
    app.test_client_class = FlaskClient
    return app.test_client()


@pytest.fixture(scope="session")
def celery_app(redis_server):
    """The bundled Celery app, pointed at the session's Redis (as the dashboard points it)."""
    from dashboard.celery_link import load_celery_app

    return load_celery_app("celery_app:app", redis_server.url, redis_server.url)


@pytest.fixture
def declare_queue(celery_app, monkeypatch):
    """``declare_queue(name)`` adds a queue to the app's ``task_queues`` (undone after the test) and
    returns its name: runs, staged items and schedules may only target queues the app configures
    (or live workers consume)."""
    from kombu import Queue

    def declare(name: str) -> str:
        queues = list(celery_app.conf.task_queues or ())
        if name not in {getattr(queue, "name", queue) for queue in queues}:
            monkeypatch.setitem(celery_app.conf, "task_queues", [*queues, Queue(name)])
        return name

    return declare


@pytest.fixture(scope="session")
def celery_worker(celery_app, tmp_path_factory):
    """One real prefork worker for the session, consuming the ``celery`` and ``reports`` queues."""
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    worker = CeleryWorker(dict(os.environ), log).start(celery_app)
    yield worker
    worker.stop()


@pytest.fixture
def live_server(app):
    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run 'make browser' (installs Debian's chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_tab(browser, **context_options):
    """A tab in a fresh browser context; ``tab.console_errors`` collects the errors it sees."""
    context = browser.new_context(**context_options)
    context.set_default_timeout(15_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.console_errors = errors
    return tab


@pytest.fixture
def page(browser, live_server):
    """A fresh browser tab on the live app; ``page.console_errors`` collects errors seen."""
    tab = open_tab(browser, base_url=live_server.url)
    yield tab
    tab.context.close()
