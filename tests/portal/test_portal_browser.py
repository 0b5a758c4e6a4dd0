"""Inside a portal: gunicorn serves the dashboard under /ops/celery/, framed by a page on another port."""

import http.server
import os
import threading

import pytest
from playwright.sync_api import expect

from tests.conftest import open_tab
from tests.portal.conftest import run_tasks_add
from tests.support.servers import GunicornServer, free_port, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.worker]
PREFIX = "/ops/celery"


class PortalPage(http.server.BaseHTTPRequestHandler):
    """A stand-in intranet portal: one page that frames the dashboard."""

    dashboard_url = ""

    def do_GET(self):  # noqa: N802 - the stdlib's name
        body = (
            "<!doctype html><title>Intranet</title><h1>Intranet portal</h1>"
            f'<iframe id="dashboard" name="dashboard" src="{self.dashboard_url}/staging/?embed=1" '
            'style="width:1200px;height:1300px"></iframe>'
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve_portal(port: int, dashboard_url: str) -> http.server.ThreadingHTTPServer:
    handler = type("Handler", (PortalPage,), {"dashboard_url": dashboard_url})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def portal(tmp_path, redis_server, database_url, key_prefix):
    portal_port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "DATABASE_URL": database_url,
        "TASKDECK_KEY_PREFIX": key_prefix,
        "SECRET_KEY": "portal-test",
        "FRAME_ANCESTORS": f"http://127.0.0.1:{portal_port}",
    }
    dashboard = GunicornServer(env, tmp_path / "gunicorn.log", workers=2, script_name=PREFIX).start()
    server = serve_portal(portal_port, dashboard.url)
    yield f"http://127.0.0.1:{portal_port}/", dashboard
    server.shutdown()
    dashboard.stop()


@pytest.fixture
def tab(browser):
    """A tab on no particular app: the test opens the portal page, which frames the dashboard."""
    page = open_tab(browser, viewport={"width": 1300, "height": 1500})
    yield page
    page.context.close()


def test_reorder_and_run_a_task_inside_the_portal_frame(tab, portal, stage, order, celery_worker):
    portal_url, dashboard = portal
    a, b, c = stage(3)
    tab.goto(portal_url)
    frame = tab.frame_locator("#dashboard")
    expect(frame.locator(".staging-list[data-sortable=on]")).to_be_visible()
    # Embedded: no chrome of its own, and every URL carries the sub-path.
    expect(frame.get_by_role("navigation", name="Areas")).to_have_count(0)
    for action in frame.locator("form[action]").evaluate_all(
        "forms => forms.map(f => f.getAttribute('action'))"
    ):
        assert action.startswith(PREFIX), action

    source = frame.locator(f'.staging-item[data-id="{c}"] .staging-handle').bounding_box()
    target = frame.locator(f'.staging-item[data-id="{a}"] .staging-handle').bounding_box()
    with tab.expect_response(lambda r: f"{PREFIX}/staging/{c}/move" in r.url) as moved:
        tab.mouse.move(source["x"] + source["width"] / 2, source["y"] + source["height"] / 2)
        tab.mouse.down()
        for step in range(1, 16):
            y = source["y"] + (target["y"] + 2 - source["y"]) * step / 15
            tab.mouse.move(source["x"] + source["width"] / 2, y)
            tab.wait_for_timeout(20)  # let Sortable see each pointer move
        tab.mouse.up()
    assert moved.value.status == 200
    wait_until(lambda: order() == [c, a, b], timeout=10, what="Redis order after the drop in the frame")

    # A form post in the frame: run tasks.add and watch the result arrive.
    tab.frame(name="dashboard").goto(f"{dashboard.url}/tasks/tasks.add")
    run_tasks_add(frame)
    history = frame.get_by_role("link", name="history entry").get_attribute("href")
    assert history.startswith(f"{PREFIX}/history/runs/")
    assert tab.console_errors == []


def test_framing_from_an_unlisted_origin_is_refused(tab, portal):
    _, dashboard = portal
    stranger = serve_portal(free_port(), dashboard.url)
    try:
        with tab.expect_console_message(lambda m: "frame-ancestors" in m.text):
            tab.goto(f"http://127.0.0.1:{stranger.server_address[1]}/")
        expect(tab.frame_locator("#dashboard").locator(".staging-list")).to_have_count(0)
    finally:
        stranger.shutdown()
