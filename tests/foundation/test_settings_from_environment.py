"""Every variable in the README's configuration table, set in the environment, takes effect."""

from __future__ import annotations

import re

import pytest
from werkzeug.security import generate_password_hash

from dashboard import create_app
from tests.support.servers import ROOT

# make run's own variable (the web port honcho passes on), not read by the app.
NOT_APP_SETTINGS = {"PORT"}


def readme_variables() -> list[str]:
    """The variable names of the README's configuration table, in its order."""
    text = (ROOT / "README.md").read_text()
    table = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names: list[str] = []
    for line in table.splitlines():
        cell = line.split("|")[1] if line.startswith("|") else ""
        names += re.findall(r"`([A-Z][A-Z0-9_]+)`", cell)
    return [name for name in names if name not in NOT_APP_SETTINGS]


def environment(tmp_path, redis_url: str) -> dict[str, tuple[str, object]]:
    """variable -> (the text set in the environment, the value the app must then hold)."""
    hashed = generate_password_hash("pw")
    return {
        "REDIS_URL": (redis_url, redis_url),
        "REDIS_SENTINEL_MASTER": ("mymaster", "mymaster"),
        "REDIS_SOCKET_TIMEOUT": ("0.7", 0.7),
        "CELERY_BROKER_URL": (redis_url.replace("/0", "/3"), redis_url.replace("/0", "/3")),
        "CELERY_RESULT_BACKEND": (redis_url.replace("/0", "/4"), redis_url.replace("/0", "/4")),
        "DATABASE_URL": (f"sqlite:///{tmp_path}/env.db", f"sqlite:///{tmp_path}/env.db"),
        "CELERY_APP": ("celery_app", "celery_app"),
        "FLOWER_URL": ("http://flower.example:5555", "http://flower.example:5555"),
        "SECRET_KEY": ("from-the-environment", "from-the-environment"),
        "TASKDECK_KEY_PREFIX": ("envprefix:", "envprefix:"),
        "INSPECT_TIMEOUT": ("2.5", 2.5),
        "WORKERS_CACHE_SECONDS": ("3.5", 3.5),
        "WORKERS_OFFLINE_AFTER": ("61", 61.0),
        "WORKERS_FORGET_AFTER": ("3601", 3601.0),
        "MAX_PAYLOAD_BYTES": ("70000", 70000),
        "SCHEDULE_MISSED_GRACE": ("301", 301.0),
        "SCHEDULE_LOCK_TTL": ("7", 7.0),
        "HISTORY_RETENTION_DAYS": ("31", 31),
        "HISTORY_BATCH_SIZE": ("999", 999),
        "HISTORY_FLUSH_SECONDS": ("0.3", 0.3),
        "HISTORY_PROGRESS_SECONDS": ("1.5", 1.5),
        "HISTORY_RECONCILE_SECONDS": ("31", 31.0),
        "HISTORY_LOST_AFTER_SECONDS": ("1801", 1801.0),
        "RETRY_WITH_CHANGES_ROLE": ("operator", "operator"),
        "HISTORY_FULL_SCAN_SECONDS": ("601", 601.0),
        "AUTH_MODE": ("basic", "basic"),
        "AUTH_BASIC_USERS": (f"ops:admin:{hashed}", f"ops:admin:{hashed}"),
        "AUTH_USER_HEADER": ("X-Portal-User", "X-Portal-User"),
        "AUTH_GROUPS_HEADER": ("X-Portal-Groups", "X-Portal-Groups"),
        "AUTH_GROUP_ROLES": ("ops-admins=admin", "ops-admins=admin"),
        "AUTH_DEFAULT_ROLE": ("viewer", "viewer"),
        "AUTH_BASIC_MAX_FAILURES": ("4", 4),
        "AUTH_BASIC_FAILURE_WINDOW": ("61", 61.0),
        "TRUSTED_ORIGINS": ("https://portal.example.com", "https://portal.example.com"),
        "AUTH_TRUSTED_PROXIES": ("10.1.2.3", "10.1.2.3"),
        "PROXY_FIX_COUNT": ("1", 1),
        "FRAME_ANCESTORS": ("https://portal.example", "https://portal.example"),
        "EMBED": ("1", True),
        "SESSION_COOKIE_SAMESITE": ("Strict", "Strict"),
        "SESSION_COOKIE_SECURE": ("1", True),
        "AUDIT_RETENTION_DAYS": ("91", 91),
    }


def test_the_table_and_this_test_name_the_same_variables(tmp_path, redis_server):
    assert set(readme_variables()) == set(environment(tmp_path, redis_server.url))


@pytest.mark.parametrize("name", readme_variables())
def test_a_variable_set_in_the_environment_takes_effect(name, tmp_path, redis_server, monkeypatch):
    text, expected = environment(tmp_path, redis_server.url)[name]
    monkeypatch.setenv(name, text)
    if name == "AUTH_MODE":
        monkeypatch.setenv("AUTH_BASIC_USERS", environment(tmp_path, redis_server.url)["AUTH_BASIC_USERS"][0])
    app = create_app({"INSTANCE_PATH": tmp_path / "instance"})
    assert app.config[name] == expected


def test_flask_keys_from_the_environment_shape_the_session_cookie(tmp_path, redis_server, monkeypatch):
    """SECRET_KEY shared by two hosts: a session one signed is read by the other; the cookie
    carries the SameSite and Secure attributes asked for."""
    for name, value in {
        "SECRET_KEY": "shared-by-every-host",
        "SESSION_COOKIE_SAMESITE": "Strict",
        "SESSION_COOKIE_SECURE": "1",
        "REDIS_URL": redis_server.url,
    }.items():
        monkeypatch.setenv(name, value)
    first = create_app({"INSTANCE_PATH": tmp_path / "a"})
    second = create_app({"INSTANCE_PATH": tmp_path / "b"})
    response = first.test_client().get("/?lang=zh_CN")  # choosing a language writes the session
    cookie = response.headers["Set-Cookie"]
    assert "SameSite=Strict" in cookie and "Secure" in cookie
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    serializer = second.session_interface.get_signing_serializer(second)
    assert serializer.loads(value)["lang"] == "zh_CN"


def test_a_value_the_host_chose_wins_over_the_environment(tmp_path, redis_server, monkeypatch):
    from flask import Flask

    from dashboard import dashboard

    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    host = Flask("host", instance_path=str(tmp_path / "host"))
    host.config["SECRET_KEY"] = "the-host-s-own"
    host.register_blueprint(dashboard, url_prefix="/ops")
    assert host.config["SECRET_KEY"] == "the-host-s-own"
