"""In Debian chromium: when Redis hangs, the "unreachable" banner replaces the stale queue figures,
polls under the mount prefix, and gives way to the figures again when Redis is back, without a reload."""

import pytest
from playwright.sync_api import expect

from tests.conftest import open_tab
from tests.support.servers import (
    GunicornServer,
    RedisServer,
    host_environment,
    procfile_gunicorn_options,
)

pytestmark = pytest.mark.browser
PREFIX = "/ops"


@pytest.fixture
def host(tmp_path, database_url, key_prefix):
    """The dashboard under /ops (SCRIPT_NAME), as the Procfile serves it, on a Redis of its own."""
    own_redis = RedisServer(tmp_path / "redis").start()
    env = host_environment(own_redis.url, database_url, key_prefix, "redis-down-browser")
    options = procfile_gunicorn_options()
    server = GunicornServer(env, tmp_path / "gunicorn.log", script_name=PREFIX, options=options).start()
    yield server, own_redis
    server.stop()
    own_redis.stop()


@pytest.fixture
def tab(browser, host):
    server, _ = host
    page = open_tab(browser)
    # The operator's 2-second poll interval for the queues area (the picker's cookie).
    page.context.add_cookies([{"name": "td_poll_queues", "value": "2", "url": server.url}])
    yield page
    page.context.close()


def test_banner_replaces_stale_queue_figures_and_gives_way_when_redis_is_back(tab, host, celery_app):
    server, own_redis = host
    with celery_app.connection_for_write(own_redis.url) as connection:
        for n in range(3):
            celery_app.send_task("tasks.add", args=(n, n), queue="celery", connection=connection)
    tab.goto(f"{server.url}/queues/")
    figures = tab.locator('#queues-content tr[data-queue="celery"] td.num')
    expect(figures).to_have_text("3")
    tab.evaluate("window.loadedOnce = true")  # gone if the page reloads

    own_redis.pause()
    try:
        banner = tab.locator("#main [data-redis-down]")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("Redis is unreachable")
        expect(tab.locator("#queues-content")).to_have_count(0)
        # It polls the address the region polled, under the mount prefix.
        assert banner.get_attribute("hx-get") == f"{PREFIX}/queues/"
    finally:
        own_redis.resume()

    expect(figures).to_have_text("3", timeout=20_000)
    expect(tab.locator("[data-redis-down]")).to_have_count(0)
    assert tab.evaluate("window.loadedOnce") is True
