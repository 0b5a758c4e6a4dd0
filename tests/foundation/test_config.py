"""The app factory and where each setting comes from."""

from pathlib import Path

import pytest

from dashboard import config as config_module
from dashboard import create_app, mount
from tests.conftest import POSTGRES_ADMIN_URL


def test_defaults_when_environment_is_empty(tmp_path):
    settings = config_module.load(environ={})
    config_module.finish(settings, tmp_path)
    assert settings["REDIS_URL"] == config_module.DEFAULT_REDIS_URL
    assert settings["CELERY_APP"] == "celery_app:app"
    assert settings["DATABASE_URL"] == f"sqlite:///{tmp_path / 'taskdeck.db'}"
    assert settings["FLOWER_URL"] is None
    assert settings["AUTH_MODE"] == "none"


def test_environment_wins_over_defaults(tmp_path):
    environ = {"REDIS_URL": "redis://example:1/2", "INSPECT_TIMEOUT": "2.5", "MAX_PAYLOAD_BYTES": "10"}
    settings = config_module.load(environ=environ)
    assert settings["REDIS_URL"] == "redis://example:1/2"
    assert settings["INSPECT_TIMEOUT"] == 2.5
    assert settings["MAX_PAYLOAD_BYTES"] == 10


def test_overrides_win_over_environment(tmp_path, monkeypatch, redis_server):
    monkeypatch.setenv("FLOWER_URL", "http://from-env:5555")
    app = create_app(
        {
            "INSTANCE_PATH": tmp_path,
            "FLOWER_URL": "http://override:5555",
            "REDIS_URL": redis_server.url,
            "CELERY_BROKER_URL": None,
            "CELERY_RESULT_BACKEND": None,
        }
    )
    assert app.config["FLOWER_URL"] == "http://override:5555"


def test_broker_and_backend_default_to_redis_url(tmp_path, redis_server):
    app = create_app(
        {
            "INSTANCE_PATH": tmp_path,
            "REDIS_URL": redis_server.url,
            "CELERY_BROKER_URL": None,
            "CELERY_RESULT_BACKEND": None,
        }
    )
    assert app.config["CELERY_BROKER_URL"] == redis_server.url
    assert app.config["CELERY_RESULT_BACKEND"] == redis_server.url
    assert mount.first(app).celery.conf.broker_url == redis_server.url


def test_explicit_broker_url_wins(tmp_path, redis_server, monkeypatch):
    # Celery itself reads CELERY_BROKER_URL from the environment first; the tests set it.
    monkeypatch.delenv("CELERY_BROKER_URL")
    other = redis_server.url.replace("/0", "/3")
    app = create_app({"INSTANCE_PATH": tmp_path, "REDIS_URL": redis_server.url, "CELERY_BROKER_URL": other})
    assert mount.first(app).celery.conf.broker_url == other
    # Put the shared Celery app back for the other tests.
    create_app(
        {"INSTANCE_PATH": tmp_path, "REDIS_URL": redis_server.url, "CELERY_BROKER_URL": redis_server.url}
    )


def test_secret_key_is_generated_once_and_kept(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = create_app({"INSTANCE_PATH": tmp_path})
    second = create_app({"INSTANCE_PATH": tmp_path})
    key_file = Path(tmp_path) / "secret_key"
    assert key_file.exists()
    assert len(first.config["SECRET_KEY"]) == 64
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"] == key_file.read_text()
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"


def test_unknown_auth_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="AUTH_MODE"):
        create_app({"INSTANCE_PATH": tmp_path, "AUTH_MODE": "magic"})


@pytest.mark.skipif(bool(POSTGRES_ADMIN_URL), reason="SQLite only")
def test_sqlite_runs_in_wal_mode_with_busy_timeout(app):
    from sqlalchemy import text

    from dashboard.extensions import db

    with app.app_context():
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert db.session.execute(text("PRAGMA busy_timeout")).scalar() == 15000
