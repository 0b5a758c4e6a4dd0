"""Heartbeats of background processes live in Redis and expire on their own."""

import pytest

from dashboard import heartbeat
from tests.support.servers import wait_until


def test_alive_lists_each_instance_until_its_ttl_runs_out(redis_client, key_prefix):
    heartbeat.beat(redis_client, key_prefix, "dispatcher", ttl=30, info={"released": 3}, instance="a:1")
    heartbeat.beat(redis_client, key_prefix, "dispatcher", ttl=0.2, instance="b:2")
    beats = heartbeat.alive(redis_client, key_prefix, "dispatcher")
    assert {b.instance for b in beats} == {"a:1", "b:2"}
    assert next(b for b in beats if b.instance == "a:1").info == {"released": 3}
    wait_until(
        lambda: [b.instance for b in heartbeat.alive(redis_client, key_prefix, "dispatcher")] == ["a:1"],
        timeout=5,
        what="short heartbeat to expire",
    )
    heartbeat.stop(redis_client, key_prefix, "dispatcher", instance="a:1")
    assert heartbeat.alive(redis_client, key_prefix, "dispatcher") == []


def test_unknown_kind_is_refused(redis_client, key_prefix):
    with pytest.raises(ValueError):
        heartbeat.beat(redis_client, key_prefix, "nothing", ttl=1)
