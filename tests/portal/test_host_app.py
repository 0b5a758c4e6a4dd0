"""A host app that mounts the dashboard twice (examples/host_app.py): the host's own database, CSRF,
locale and templates behave exactly as without the dashboard, and the two mounts keep to themselves."""

from __future__ import annotations

import re
import sqlite3

import pytest
from flask import Flask
from sqlalchemy import create_engine, text

from dashboard import dashboard
from dashboard.core.staging_keys import StagingKeys
from examples.host_app import create_portal, portal_locale

TOKEN = re.compile(r'name="csrf_token" value="[^"]+"')


def host(tmp_path, name: str, mount_configs=None) -> Flask:
    """The example portal, with its database in ``tmp_path/<name>``; no mounts without configs."""
    first, second = mount_configs or (None, None)
    return create_portal(
        first,
        second,
        mount=mount_configs is not None,
        instance_path=tmp_path / name,
        database_url=f"sqlite:///{tmp_path / name / 'portal.db'}",
        secret_key="portal-secret",
    )


def host_visit(portal: Flask) -> list[tuple]:
    """What the host's own routes answer, as comparable values."""
    client = portal.test_client()
    seen = []
    home = client.get("/")
    seen.append(
        ("home", home.status_code, sorted(home.headers.keys()), TOKEN.sub("", home.get_data(as_text=True)))
    )
    seen.append(("post without token", client.post("/notes", data={"text": "x"}).status_code))
    token = TOKEN.search(home.get_data(as_text=True)).group(0).split('value="')[1][:-1]
    added = client.post("/notes", data={"text": "<b>hello</b>", "csrf_token": token})
    seen.append(("post with token", added.status_code, added.headers.get("Location")))
    seen.append(("notes", TOKEN.sub("", client.get("/").get_data(as_text=True))))
    seen.append(
        ("locale", re.search(r'id="portal-locale">([^<]*)<', client.get("/?hl=de").get_data(as_text=True))[1])
    )
    seen.append(("missing", client.get("/nowhere").status_code))
    return seen


def journal_mode(path) -> str:
    with sqlite3.connect(path) as connection:
        return connection.execute("PRAGMA journal_mode").fetchone()[0]


def tables(path) -> list[str]:
    with sqlite3.connect(path) as connection:
        return sorted(
            row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        )


def test_the_host_behaves_exactly_as_without_the_dashboard(tmp_path, mount_configs):
    bare, mounted = host(tmp_path, "bare"), host(tmp_path, "mounted", mount_configs)

    assert dict(mounted.config) == {
        **bare.config,
        "SQLALCHEMY_DATABASE_URI": mounted.config["SQLALCHEMY_DATABASE_URI"],
    }
    for attribute in ("globals", "filters", "extensions", "tests"):
        assert set(getattr(mounted.jinja_env, attribute)) == set(getattr(bare.jinja_env, attribute)), (
            attribute
        )
    assert mounted.jinja_env.finalize is bare.jinja_env.finalize is None
    assert mounted.extensions["babel"].locale_selector is portal_locale
    assert mounted.extensions["sqlalchemy"] is bare.extensions["sqlalchemy"]  # the host's own instance
    # The dashboard's hooks are keyed to its own blueprints; the app-wide ones are the host's.
    ours = {key for key in mounted.before_request_funcs if key not in bare.before_request_funcs}
    assert ours and all(key.split(".")[0] in ("taskdeck", "taskdeck_batch") for key in ours)
    assert len(mounted.before_request_funcs[None]) == len(bare.before_request_funcs[None])

    assert host_visit(mounted) == host_visit(bare)

    # The dashboard's language choice stays the dashboard's: the host keeps its own rule.
    client = mounted.test_client()
    page = client.get("/ops/celery/?lang=zh_CN").get_data(as_text=True)
    assert '<html lang="zh' in page
    assert '<span id="portal-locale">fr</span>' in client.get("/").get_data(as_text=True)

    # The host's SQLite file keeps its journal mode and holds only the host's tables.
    for name in ("bare", "mounted"):
        assert journal_mode(tmp_path / name / "portal.db") == "delete"
        assert tables(tmp_path / name / "portal.db") == ["portal_notes"]
    first_url = mount_configs[0]["DATABASE_URL"]
    if first_url.startswith("sqlite:///"):
        assert journal_mode(first_url.removeprefix("sqlite:///")) == "wal"  # the dashboard's own engine


def links(html: str) -> list[str]:
    return re.findall(r'(?:href|src|action|hx-get|hx-post|hx-delete)="(/[^"]*)"', html)


def audit_actions(database_url: str) -> list[str]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return [row[0] for row in connection.execute(text("SELECT action FROM audit_log ORDER BY id"))]
    finally:
        engine.dispose()


def test_two_mounts_side_by_side(tmp_path, mount_configs, redis_client):
    portal = host(tmp_path, "portal", mount_configs)
    client = portal.test_client()
    for prefix in ("/ops/celery", "/ops/batch"):
        for page in ("/", "/staging/", "/schedules/", "/history/"):
            response = client.get(prefix + page)
            assert response.status_code == 200, prefix + page
            found = links(response.get_data(as_text=True))
            assert found and all(url.startswith(prefix + "/") for url in found), (prefix + page, found)
    assert client.get("/ops/celery/static/app.css").status_code == 200
    assert client.get("/ops/batch/healthz").get_json() == {"ok": True}

    # The JSON API is exempt from the host's CSRFProtect (its own Content-Type rule applies).
    staged = client.post("/ops/celery/api/v1/staging", json={"task": "tasks.add", "args": [1, 2]})
    assert staged.status_code == 201, staged.get_data(as_text=True)
    first, second = (client.get(f"/ops/{m}/api/v1/staging").get_json() for m in ("celery", "batch"))
    assert [item["id"] for item in first["items"]] == [staged.get_json()["id"]]
    assert second["items"] == []
    first_keys, batch_keys = (StagingKeys(config["TASKDECK_KEY_PREFIX"]) for config in mount_configs)
    assert redis_client.zcard(first_keys.order) == 1 and redis_client.zcard(batch_keys.order) == 0

    # Each mount audits into its own database.
    assert "staging.add" in audit_actions(mount_configs[0]["DATABASE_URL"])
    assert audit_actions(mount_configs[1]["DATABASE_URL"]) == []
    # Endpoints are the mount's: taskdeck.<area>.<view> and taskdeck_batch.<area>.<view>.
    endpoints = {rule.endpoint for rule in portal.url_map.iter_rules()}
    assert {"taskdeck.history.index", "taskdeck_batch.history.index", "taskdeck.static"} <= endpoints


def test_a_host_without_csrf_protection_keeps_its_token_less_posts(tmp_path, mount_configs):
    plain = Flask("plain", instance_path=str(tmp_path / "plain"))
    plain.secret_key = "plain-secret"

    @plain.post("/echo")
    def echo():
        return "echo"

    plain.register_blueprint(dashboard, url_prefix="/ops", config=mount_configs[0])
    client = plain.test_client()
    assert client.post("/echo").get_data(as_text=True) == "echo"
    assert "csrf_token" not in plain.jinja_env.globals
    refused = client.post("/ops/staging/dispatcher", data={"state": "paused"})
    assert refused.status_code == 400  # the dashboard's own routes still need the token


def test_a_host_without_a_secret_key_is_told_so(tmp_path, mount_configs):
    bare = Flask("bare", instance_path=str(tmp_path / "bare"))
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        bare.register_blueprint(dashboard, url_prefix="/ops", config=mount_configs[0])


def test_the_same_name_twice_is_refused(tmp_path, mount_configs):
    portal = host(tmp_path, "portal", mount_configs)
    with pytest.raises(RuntimeError, match="already mounted"):
        portal.register_blueprint(dashboard, url_prefix="/ops/third", name="taskdeck_batch")
