"""Security headers on every answer the dashboard gives: pages, API, health, static files,
downloads, errors, slash redirects and refused methods."""

from __future__ import annotations

import pytest

HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy")

# Values for the URL map's arguments, so every GET route can be asked for.
ARGUMENTS = {"filename": "app.css"}


def _get_urls(app) -> list[str]:
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods:
            continue
        values = {name: ARGUMENTS.get(name, "x") for name in rule.arguments}
        if "schedule_id" in rule.arguments:
            values["schedule_id"] = 1
        with app.test_request_context():
            urls.append(app.url_for(rule.endpoint, **values))
    return sorted(set(urls))


def assert_headers(response, what: str) -> None:
    missing = [name for name in HEADERS if name not in response.headers]
    assert not missing, f"{what} ({response.status_code}) lacks {missing}"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_every_get_route_answers_with_the_headers(app, client):
    urls = _get_urls(app)
    assert len(urls) > 40
    for url in urls:
        assert_headers(client.get(url), url)


@pytest.mark.parametrize(
    ("what", "method", "url"),
    [
        ("liveness", "get", "/healthz"),
        ("readiness", "get", "/readyz"),
        ("slash redirect", "get", "/queues"),
        ("method not allowed", "delete", "/queues/"),
        ("nothing here", "get", "/no-such-page"),
        ("API not found", "get", "/api/v1/nope"),
        ("static file", "get", "/static/app.css"),
        ("export download", "get", "/schedules/export.csv"),
        ("API refused", "post", "/api/v1/staging"),
    ],
)
def test_answers_no_view_shaped_carry_the_headers(client, what, method, url):
    response = getattr(client, method)(url)
    assert_headers(response, what)


def test_a_host_app_s_own_answers_are_left_alone(tmp_path, redis_server, database_url, key_prefix):
    from flask import Flask

    from dashboard import dashboard
    from tests.conftest import app_config

    host = Flask("host", instance_path=str(tmp_path / "host"))
    host.secret_key = "host-secret"

    @host.get("/home")
    def home():
        return "host"

    config = app_config(tmp_path, redis_server.url, database_url, key_prefix)
    host.register_blueprint(dashboard, url_prefix="/ops", config=config)
    client = host.test_client()
    assert "Content-Security-Policy" not in client.get("/home").headers
    assert "Content-Security-Policy" not in client.get("/elsewhere").headers
    for url in ("/ops/queues", "/ops/healthz", "/ops/nowhere", "/ops/queues/"):
        assert_headers(client.get(url), url)
