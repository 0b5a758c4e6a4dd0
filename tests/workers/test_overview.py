"""The overview brings workers, background processes, queue depths and failures together."""

from datetime import timedelta

import pytest
from celery import Celery
from kombu import Queue

from dashboard import heartbeat
from dashboard.core.inspect import broadcast_count
from dashboard.core.runs import TaskRun
from dashboard.extensions import db
from dashboard.overview import service
from dashboard.timeutil import utcnow


@pytest.mark.worker
def test_workers_tile_lists_answering_workers_from_the_shared_cache(client, app, redis_client, two_workers):
    html = client.get("/overview/tiles/workers", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "status-ok" in html
    assert two_workers[0].hostname in html and two_workers[1].hostname in html
    assert 'href="/workers/"' in html
    client.get("/overview/tiles/workers", headers={"HX-Request": "true"})
    prefix = app.config["TASKDECK_KEY_PREFIX"]
    assert broadcast_count(redis_client, prefix, "ping") == 1


def test_background_process_tiles_follow_heartbeats(client, redis_client, key_prefix):
    assert client.get("/overview/tiles/beat").status_code == 200
    for name in ("dispatcher", "recorder"):
        html = client.get(f"/overview/tiles/{name}").get_data(as_text=True)
        assert "status-bad" in html and "no live heartbeat" in html
    heartbeat.beat(redis_client, key_prefix, "dispatcher", ttl=30, instance="host-a:1")
    heartbeat.beat(redis_client, key_prefix, "recorder", ttl=30, instance="host-b:2")
    for name, instance in (("dispatcher", "host-a:1"), ("recorder", "host-b:2")):
        html = client.get(f"/overview/tiles/{name}").get_data(as_text=True)
        assert "status-ok" in html and instance in html


def test_queue_depth_counts_priority_sub_lists(redis_client):
    name = f"ov-depth-{id(redis_client)}"
    app = Celery("depth", set_as_current=False)
    app.conf.task_queues = [Queue(name)]
    app.conf.task_default_queue = name
    redis_client.lpush(name, "a", "b")
    redis_client.lpush(f"{name}\x06\x163", "c")
    redis_client.lpush(f"{name}\x06\x169", "d")
    try:
        check = service.check_queues(redis_client, app)
    finally:
        redis_client.delete(name, f"{name}\x06\x163", f"{name}\x06\x169")
    assert check.value == "4" and f"{name}: 4" in check.items


def test_failures_tile_counts_failures_of_the_last_hour_only(client, app):
    with app.app_context():
        now = utcnow()
        db.session.add_all(
            [
                TaskRun(task_id="f-recent", name="tasks.always_fails", state="FAILURE", finished_at=now),
                TaskRun(
                    task_id="f-old",
                    name="tasks.always_fails",
                    state="FAILURE",
                    finished_at=now - timedelta(hours=2),
                ),
                TaskRun(task_id="ok-recent", name="tasks.add", state="SUCCESS", finished_at=now),
            ]
        )
        db.session.commit()
    html = client.get("/overview/tiles/failures").get_data(as_text=True)
    assert "1 failed in the last hour" in html and "status-bad" in html
    assert 'href="/history/?state=FAILURE"' in html


def test_overview_page_links_every_tile_to_its_page(client):
    html = client.get("/").get_data(as_text=True)
    for tile, href in (("queues", "/queues/"), ("beat", "/schedules/"), ("dispatcher", "/staging/")):
        assert f'id="tile-{tile}"' in html
        assert f'<a class="tile-link" href="{href}"' in html


def test_beat_tile_shows_the_lock_holder_or_says_none_holds_it(client):
    html = client.get("/overview/tiles/beat").get_data(as_text=True)
    assert 'id="tile-beat"' in html and ("lock held by" in html or "no beat" in html)
    assert 'href="/schedules/"' in html


def test_staged_tile_reports_the_staging_count(client):
    html = client.get("/").get_data(as_text=True)
    assert 'id="tile-staged"' in html and "waiting in staging" in html
