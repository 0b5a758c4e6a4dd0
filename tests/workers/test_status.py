"""A worker that stops is shown unresponsive, then offline with when it was last seen."""

import pytest

from tests.support.servers import wait_until
from tests.workers.helpers import control

pytestmark = pytest.mark.worker


def _status(client, hostname):
    rows = client.get("/api/v1/workers").get_json()["workers"]
    return next((row["status"] for row in rows if row["hostname"] == hostname), None)


def test_stopped_worker_turns_unresponsive_then_offline_and_stays_listed(fast_app, spare_worker):
    client = fast_app.test_client()
    hostname = spare_worker.hostname
    wait_until(lambda: _status(client, hostname) == "online", timeout=40, what="online")
    spare_worker.worker.stop()
    wait_until(lambda: _status(client, hostname) == "unresponsive", timeout=40, what="unresponsive")
    wait_until(lambda: _status(client, hostname) == "offline", timeout=40, what="offline")
    html = client.get("/workers/", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert hostname in html and "offline" in html and "since" in html
    page = client.get(f"/workers/{hostname}").get_data(as_text=True)
    assert "offline" in page and "did not answer" in page


def test_shutdown_command_stops_the_worker(fast_app, spare_worker):
    client = fast_app.test_client()
    hostname = spare_worker.hostname
    wait_until(lambda: _status(client, hostname) == "online", timeout=40, what="online")
    response = control(client, hostname, "shutdown")
    assert response.status_code == 200 and response.get_json()["expects_reply"] is False
    wait_until(lambda: spare_worker.worker.process.poll() is not None, timeout=30, what="worker exited")
    wait_until(
        lambda: _status(client, hostname) in ("unresponsive", "offline"), timeout=40, what="not online"
    )
