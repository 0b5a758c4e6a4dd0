"""Liveness, readiness, and what the pages do while Redis is down."""

from dashboard import create_app
from tests.conftest import app_config
from tests.support.servers import RedisServer, wait_until


def test_healthz_is_up(client):
    assert client.get("/healthz").get_json() == {"ok": True}


def test_readyz_green_with_each_check(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["database"]["ok"] is True


def test_readyz_turns_red_when_redis_stops_and_green_when_back(tmp_path, database_url):
    own_redis = RedisServer(tmp_path / "redis").start()
    try:
        app = create_app(app_config(tmp_path, own_redis.url, database_url, "td-health:"))
        client = app.test_client()
        assert client.get("/readyz").status_code == 200

        own_redis.stop()
        response = client.get("/readyz")
        assert response.status_code == 503
        body = response.get_json()
        assert body["checks"]["redis"]["ok"] is False
        assert body["checks"]["database"]["ok"] is True

        page = client.get("/")
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        assert "Traceback" not in html
        assert 'id="tile-redis"' in html and "DOWN" in html
        assert "unknown while the broker is unreachable" in html

        own_redis.start()
        wait_until(lambda: client.get("/readyz").status_code == 200, timeout=15, what="readyz green")
    finally:
        own_redis.stop()


def test_redis_error_in_a_view_renders_a_banner_not_a_stack_trace(tmp_path, database_url):
    """A view that needs Redis (the staging list's page, list and API) with nothing at its address."""
    app = create_app(app_config(tmp_path, "redis://127.0.0.1:1/0", database_url, "td-down:"))
    client = app.test_client()
    page = client.get("/staging/")
    assert page.status_code == 503
    assert "Redis is unreachable" in page.get_data(as_text=True)
    fragment = client.get("/staging/list", headers={"HX-Request": "true"})
    assert "<html" not in fragment.get_data(as_text=True)
    assert 'hx-trigger="every 5s"' in fragment.get_data(as_text=True)
    api = client.get("/api/v1/staging")
    assert api.status_code == 503 and api.get_json()["error"] == "Redis is unreachable"
