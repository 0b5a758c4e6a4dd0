"""One broker layout for every view: an app with its own priority steps, separator and key prefix.

The true depth of a queue is read here without the dashboard's code: SCAN for the keys kombu
really wrote (``acme:`` prefix, ``:`` separator, steps 0/2/4/6/8) and sum their LLEN.
"""

from __future__ import annotations

import os
import re
import threading
from types import SimpleNamespace

import pytest
import redis
from celery import Celery
from prometheus_client.parser import text_string_to_metric_families

from dashboard.core import broker
from dashboard.core.errors import DashboardError
from tests.conftest import CsrfClient, app_config
from tests.core import layout_app
from tests.core.layout_app import HELD_QUEUE, PREFIX, WORK_QUEUE
from tests.support.servers import CeleryWorker

HELD_KEYS = {  # priority -> the list kombu puts it in, with steps [0, 2, 4, 6, 8]
    0: "acme:layout-held",
    1: "acme:layout-held",
    3: "acme:layout-held:2",
    5: "acme:layout-held:4",
    9: "acme:layout-held:8",
}
SENT_PRIORITIES = (0, 1, 3, 5, 9, 9, 9)
SUB_LIST_NAME = re.compile(r"layout-held:\d")  # a priority sub-list read as if it were a queue


def lists_of(client: redis.Redis, queue: str) -> dict[str, int]:
    """Every list the broker holds for ``queue`` -> its length, found by SCAN (not by the layout)."""
    return {key.decode(): client.llen(key) for key in client.scan_iter(match=f"{PREFIX}{queue}*")}


def clear(client: redis.Redis, queue: str) -> None:
    keys = list(client.scan_iter(match=f"{PREFIX}{queue}*"))
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="module")
def broker_redis(redis_server) -> redis.Redis:
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


@pytest.fixture(scope="module")
def layout_worker(broker_redis, tmp_path_factory):
    """A real worker of the layout app on WORK_QUEUE, started after one message was sent there."""
    clear(broker_redis, WORK_QUEUE)
    early = layout_app.app.send_task("layout_tests.echo", args=["early"], queue=WORK_QUEUE, priority=5)
    waiting_before = lists_of(broker_redis, WORK_QUEUE)
    worker = CeleryWorker(
        dict(os.environ),
        tmp_path_factory.mktemp("layout-worker") / "worker.log",
        queues=WORK_QUEUE,
        concurrency=1,
        pool="solo",
        name="layout",
        app="tests.core.layout_app:app",
    ).start(layout_app.app)
    yield SimpleNamespace(worker=worker, early=early, waiting_before=waiting_before)
    worker.stop()
    clear(broker_redis, WORK_QUEUE)


@pytest.fixture
def held(broker_redis):
    """HELD_QUEUE emptied before and after the test."""
    clear(broker_redis, HELD_QUEUE)
    yield HELD_QUEUE
    clear(broker_redis, HELD_QUEUE)


@pytest.fixture
def make_dashboard(tmp_path, redis_server, database_url, key_prefix):
    """The dashboard managing the layout app; its own Redis is the broker's server, db ``db``."""
    from dashboard import create_app
    from dashboard.extensions import db

    made = []

    def make(db_number: int = 0):
        redis_url = f"{redis_server.url.rsplit('/', 1)[0]}/{db_number}"
        config = app_config(tmp_path, redis_url, database_url, key_prefix)
        config.update(
            CELERY_APP="tests.core.layout_app:app",
            CELERY_BROKER_URL=redis_server.url,
            CELERY_RESULT_BACKEND=redis_server.url,
        )
        app = create_app(config)
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def send_held(priorities=SENT_PRIORITIES) -> None:
    for i, priority in enumerate(priorities):
        layout_app.app.send_task("layout_tests.echo", args=[i], queue=HELD_QUEUE, priority=priority)


def tile_value(html: str) -> str:
    found = re.search(r'id="tile-queues".*?<p class="status">([^<]*)</p>', html, re.S)
    assert found, html[:2000]
    return found.group(1).strip()


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def test_layout_is_read_from_the_apps_transport_options():
    layout = broker.layout_for(layout_app.app)
    assert layout.priority_steps == (0, 2, 4, 6, 8)
    assert layout.sep == ":" and layout.global_prefix == "acme:"
    assert broker.queue_keys(layout, "q") == ["acme:q", "acme:q:2", "acme:q:4", "acme:q:6", "acme:q:8"]
    assert layout.binding_pattern() == "acme:_kombu.binding.*"
    assert layout.unacked == "acme:unacked"


def test_worker_consumes_the_message_from_the_prefixed_priority_list(layout_worker, broker_redis):
    assert layout_worker.waiting_before == {"acme:layout-work:4": 1}
    assert broker.layout_for(layout_app.app).sub_list(WORK_QUEUE, 4) == "acme:layout-work:4"
    assert layout_worker.early.get(timeout=60) == "early"
    assert lists_of(broker_redis, WORK_QUEUE) == {}


def test_every_view_of_a_queues_depth_is_the_brokers_true_depth(
    make_dashboard, layout_worker, broker_redis, held
):
    send_held()
    expected: dict[str, int] = {}
    for priority in SENT_PRIORITIES:
        expected[HELD_KEYS[priority]] = expected.get(HELD_KEYS[priority], 0) + 1
    assert lists_of(broker_redis, HELD_QUEUE) == expected  # where kombu really put them
    true_depth = sum(lists_of(broker_redis, HELD_QUEUE).values())
    app = make_dashboard()
    client = app.test_client()

    htmx = {"HX-Request": "true"}
    assert tile_value(client.get("/").get_data(as_text=True)) == str(true_depth)
    assert tile_value(client.get("/", headers=htmx).get_data(as_text=True)) == str(true_depth)
    tile = client.get("/overview/tiles/queues", headers=htmx).get_data(as_text=True)
    assert tile_value(tile) == str(true_depth)
    assert f"{HELD_QUEUE}: {true_depth}" in tile and f"{WORK_QUEUE}: 0" in tile

    queues = {q["name"]: q for q in client.get("/api/v1/queues").get_json()["queues"]}
    assert queues[HELD_QUEUE]["length"] == true_depth
    assert queues[HELD_QUEUE]["lengths"] == {"0": 2, "2": 1, "4": 1, "6": 0, "8": 3}
    assert queues[WORK_QUEUE]["length"] == 0
    assert not any(SUB_LIST_NAME.search(name) for name in queues)  # no sub-list mistaken for a queue
    page = client.get("/queues/").get_data(as_text=True)
    row = re.search(rf'<tr data-queue="{HELD_QUEUE}">\s*<td>.*?</td>\s*<td class="num">([^<]*)<', page, re.S)
    assert row and row.group(1).strip() == str(true_depth)

    samples = scrape(client)
    depth = {
        dict(labels)["priority"]: value
        for (name, labels), value in samples.items()
        if name == "taskdeck_queue_messages" and dict(labels)["queue"] == HELD_QUEUE
    }
    assert depth == {"0": 2, "2": 1, "4": 1, "6": 0, "8": 3}
    assert sum(depth.values()) == true_depth

    from dashboard.redis_client import get_broker, get_celery
    from dashboard.staging import service as staging

    with app.app_context():
        assert staging.waiting_in_queue(get_broker(), get_celery(), HELD_QUEUE) == true_depth


@pytest.mark.parametrize("db_number", [0, 1], ids=["broker-on-dashboard-redis", "broker-elsewhere"])
def test_auto_submission_compares_the_low_water_mark_with_the_true_depth(
    make_dashboard, layout_worker, broker_redis, held, db_number
):
    send_held()
    true_depth = sum(lists_of(broker_redis, HELD_QUEUE).values())
    app = make_dashboard(db_number)
    with app.app_context():
        from dashboard.redis_client import broker_on_dashboard_redis

        assert broker_on_dashboard_redis() is (db_number == 0)
    app.test_client_class = CsrfClient
    client = app.test_client()
    item = {"task": "layout_tests.echo", "args": ["auto"], "options": {"queue": HELD_QUEUE}, "mode": "auto"}

    policy = client.put("/api/v1/staging/dispatcher", json={"low_water": true_depth + 1})
    assert policy.status_code == 200, policy.get_data(as_text=True)
    sent = client.post("/api/v1/staging", json=item)
    assert sent.get_json()["outcome"] == "sent", sent.get_data(as_text=True)
    assert sum(lists_of(broker_redis, HELD_QUEUE).values()) == true_depth + 1

    # Now the queue holds exactly the low-water mark: the next auto submission must wait in staging.
    staged = client.post("/api/v1/staging", json=item)
    assert staged.get_json()["outcome"] == "staged", staged.get_data(as_text=True)
    assert sum(lists_of(broker_redis, HELD_QUEUE).values()) == true_depth + 1


# --- same_server and client_for ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url_a", "url_b", "same"),
    [
        ("redis://localhost:6379/0", "redis://localhost", True),  # default port and db
        ("redis://cache.internal/0", "rediss://:secret@cache.internal:6379/0?ssl_cert_reqs=none", True),
        ("redis://user:pw@h:6380/3", "redis://other:pw2@h:6380/3", True),  # credentials do not matter
        ("redis://h/0?db=2", "redis://h/2", True),  # redis-py reads ?db= before the path
        ("redis://h/1", "redis://h/0", False),
        ("redis://h:6380/0", "redis://h:6379/0", False),
        ("redis://a/0", "redis://b/0", False),
        ("redis://localhost/0", "redis://127.0.0.1/0", False),  # unsure is "no"
        ("unix:///run/redis.sock?db=1", "unix:///run/redis.sock?db=1", True),
        ("unix:///run/redis.sock", "unix:///run/redis.sock?db=0", True),
        ("unix:///run/redis.sock?db=1", "unix:///run/redis.sock", False),
        ("unix:///run/redis.sock", "unix:///run/other.sock", False),
        ("unix:///run/redis.sock", "redis://localhost/0", False),
        ("redis://h/0", "amqp://guest@h//", False),
        ("amqp://guest@h//", "amqp://guest@h//", False),  # not Redis at all
        ("sentinel://s1:26379;sentinel://s2:26379/0", "sentinel://s2;sentinel://s1/0", True),
        ("sentinel://s1:26379/0", "sentinel://s1:26379/1", False),
        ("sentinel://s1:26379/0", "sentinel://s2:26379/0", False),
        ("sentinel://s1:26379/0", "redis://s1:26379/0", False),
    ],
)
def test_same_server(url_a, url_b, same):
    assert broker.same_server(url_a, url_b) is same
    assert broker.same_server(url_b, url_a) is same


def test_same_sentinels_with_another_master_are_another_server():
    url = "sentinel://s1:26379;sentinel://s2:26379/0"
    assert broker.same_server(url, url, "main", "main")
    assert not broker.same_server(url, url, "main", "reports")


def test_the_broker_is_the_apps_first_url_and_its_own_master_name(monkeypatch):
    monkeypatch.delenv("CELERY_BROKER_URL")  # Celery reads it before its own setting
    app = Celery("broker-url")
    app.conf.broker_url = "sentinel://s1:26379;sentinel://s2:26379/0"
    assert broker.broker_url(app) == "sentinel://s1:26379;sentinel://s2:26379/0"  # one sentinel URL
    assert broker.broker_master(app, "default-master") == "default-master"
    app.conf.broker_transport_options = {"master_name": "main"}
    assert broker.broker_master(app, "default-master") == "main"
    app.conf.broker_url = "redis://h:6379/0;redis://h2:6379/0"  # a failover list: workers start on the first
    assert broker.broker_url(app) == "redis://h:6379/0"
    app.conf.broker_url = "amqp://guest@h//"
    with pytest.raises(DashboardError):
        broker.broker_for(app)


def test_client_for_returns_one_client_per_url(redis_server):
    url = redis_server.url
    other_db = f"{url.rsplit('/', 1)[0]}/5"
    clients: list[redis.Redis] = []
    threads = [threading.Thread(target=lambda: clients.append(broker.client_for(url))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(client) for client in clients}) == 1
    assert broker.client_for(url) is clients[0]
    assert broker.client_for(other_db) is not clients[0]
    assert broker.client_for(other_db) is broker.client_for(other_db)
    assert clients[0].ping() and broker.client_for(other_db).connection_pool.connection_kwargs["db"] == 5


def test_the_dashboard_and_its_broker_share_the_per_url_client(make_dashboard):
    from dashboard.redis_client import get_broker, get_redis

    same = make_dashboard(0)
    with same.app_context():
        assert get_redis() is broker.client_for(same.config["REDIS_URL"])
        assert get_broker() is get_redis()
    elsewhere = make_dashboard(1)
    with elsewhere.app_context():
        assert get_broker() is broker.client_for(elsewhere.config["CELERY_BROKER_URL"])
        assert get_broker() is not get_redis()
