"""REDIS_URL forms beyond plain redis://: a password, and Redis Sentinel (a real sentinel)."""

import subprocess

import pytest
import redis

from dashboard import create_app, mount
from dashboard.staging import service as staging
from tests.conftest import app_config
from tests.support.servers import RedisServer, free_port, wait_until


@pytest.fixture
def sentinel(tmp_path):
    """A master on a free port and one sentinel (the same redis-server binary, in sentinel mode)."""
    master = RedisServer(tmp_path / "master").start()
    port = free_port()
    config = tmp_path / "sentinel.conf"
    config.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor taskdeck-main 127.0.0.1 {master.port} 1\n"
        "sentinel down-after-milliseconds taskdeck-main 5000\n"
    )
    process = subprocess.Popen([master.binary, str(config), "--sentinel"], stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    wait_until(lambda: client.sentinel_get_master_addr_by_name("taskdeck-main"), timeout=15, what="sentinel")
    yield port, master
    process.terminate()
    process.wait(timeout=10)
    master.stop()


def test_dashboard_finds_the_master_through_sentinel(tmp_path, database_url, sentinel, key_prefix):
    port, master = sentinel
    url = f"sentinel://127.0.0.1:{port}/0"
    app = create_app(
        {
            **app_config(tmp_path, url, database_url, key_prefix),
            "REDIS_SENTINEL_MASTER": "taskdeck-main",
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{master.port}/0",
            "CELERY_RESULT_BACKEND": f"redis://127.0.0.1:{master.port}/0",
        }
    )
    assert app.test_client().get("/readyz").get_json()["checks"]["redis"]["ok"] is True
    with app.app_context():
        item = staging.build_item(
            mount.first(app).celery,
            {"task": "tasks.add", "args": [1, 2]},
            staged_by="t",
            max_bytes=65536,
        )
        staging.stage_item(mount.first(app).redis, key_prefix, item)
    assert redis.Redis(port=master.port).zcard(f"{key_prefix}staging:default:order") == 1


def test_sentinel_url_without_a_master_name_is_refused(tmp_path, database_url):
    with pytest.raises(ValueError, match="REDIS_SENTINEL_MASTER"):
        create_app(app_config(tmp_path, "sentinel://127.0.0.1:26379/0", database_url, "td:"))


def test_password_in_redis_url_is_used(tmp_path, database_url, key_prefix):
    server = RedisServer(tmp_path / "secured").start()
    try:
        redis.Redis(port=server.port).config_set("requirepass", "s3cret")
        good = create_app(
            app_config(tmp_path, f"redis://:s3cret@127.0.0.1:{server.port}/0", database_url, key_prefix)
        )
        assert good.test_client().get("/readyz").status_code == 200
        bad = create_app(
            app_config(tmp_path, f"redis://:wrong@127.0.0.1:{server.port}/0", database_url, key_prefix)
        )
        assert bad.test_client().get("/readyz").status_code == 503
    finally:
        server.stop()
