"""Mounting in a portal: a host app's blueprint, security headers, embed mode, sub-paths."""

import pytest

from examples.host_app import create_portal
from tests.conftest import app_config


def test_security_headers_allow_only_configured_framing(make_app):
    response = make_app(FRAME_ANCESTORS="https://portal.example").test_client().get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors https://portal.example" in csp
    assert "script-src 'self'" in csp and "unsafe-eval" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_default_framing_is_same_origin_only(client):
    assert "frame-ancestors 'self'" in client.get("/").headers["Content-Security-Policy"]


def test_embed_mode_drops_the_chrome_and_sticks_for_the_session(client):
    assert 'aria-label="Areas"' in client.get("/").get_data(as_text=True)
    embedded = client.get("/?embed=1").get_data(as_text=True)
    assert 'aria-label="Areas"' not in embedded and 'class="embed"' in embedded
    assert 'aria-label="Areas"' not in client.get("/queues/").get_data(as_text=True)
    assert 'aria-label="Areas"' in client.get("/?embed=0").get_data(as_text=True)


def test_embed_mode_from_config(make_app):
    assert 'class="embed"' in make_app(EMBED=True).test_client().get("/").get_data(as_text=True)


@pytest.fixture
def portal(tmp_path, redis_server, database_url, other_database_url, key_prefix):
    first = app_config(tmp_path, redis_server.url, database_url, key_prefix)
    second = app_config(tmp_path, redis_server.url, other_database_url, key_prefix + "batch:")
    return create_portal(first, second, instance_path=tmp_path / "portal")


def test_host_app_mounts_the_dashboard_under_its_prefix(portal):
    client = portal.test_client()
    assert "<h1>Example intranet</h1>" in client.get("/").get_data(as_text=True)
    page = client.get("/ops/celery/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'href="/ops/celery/queues/"' in html
    assert 'href="/ops/celery/static/app.css"' in html
    assert client.get("/ops/celery/static/app.css").status_code == 200
    assert client.get("/ops/celery/readyz").get_json()["ok"] is True


def test_host_routes_get_none_of_the_dashboards_hooks(portal):
    response = portal.test_client().get("/")
    assert "Content-Security-Policy" not in response.headers


def test_script_name_prefixes_every_link(client):
    html = client.get("/", base_url="http://localhost/ops/celery/").get_data(as_text=True)
    assert 'href="/ops/celery/tasks/"' in html and 'src="/ops/celery/static/app.js"' in html
    assert 'href="/tasks/"' not in html


def test_forwarded_prefix_is_honoured_from_a_trusted_proxy(make_app):
    client = make_app(PROXY_FIX_COUNT=1).test_client()
    html = client.get(
        "/", headers={"X-Forwarded-Prefix": "/portal/tools", "X-Forwarded-For": "10.1.1.1"}
    ).get_data(as_text=True)
    assert 'href="/portal/tools/queues/"' in html


def test_forwarded_prefix_is_ignored_without_a_trusted_proxy(client):
    html = client.get("/", headers={"X-Forwarded-Prefix": "/evil"}).get_data(as_text=True)
    assert "/evil/" not in html
