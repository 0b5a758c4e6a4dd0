"""The recorder process folds origin entries: once per run whatever kills it, past bad entries.

Real recorder processes on the session's Redis. To stop a recorder between committing a batch
and removing it from Redis, it connects as a Redis user refused LTRIM (an ACL): it reads and
commits the batch, and its removal fails, every time, until it is killed with SIGKILL.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from dashboard.core import origins
from dashboard.core.dispatch import Outgoing
from dashboard.core.runs import TaskRun
from dashboard.extensions import db
from dashboard.history import keys, store
from tests.support.servers import wait_until


def entry_for(task_id: str, i: int) -> str:
    sent = Outgoing(task="tasks.add", args=[i, 1], origin="staging", origin_ref=f"item-{i}", task_id=task_id)
    # Sent just now: an entry long past, with no message anywhere, would be a lost run (lost.py).
    return origins.entry(sent, "celery", time.time() + i / 1000)


def runs_tagged(app, tag: str) -> list[TaskRun]:
    with app.app_context():
        runs = db.session.query(TaskRun).filter(TaskRun.task_id.like(f"{tag}-%")).all()
        db.session.expunge_all()
        return runs


def skipped(redis_client, key_prefix: str) -> dict[str, str]:
    raw = redis_client.hgetall(keys.skipped_records(key_prefix))
    return {k.decode(): v.decode() for k, v in raw.items()}


@pytest.fixture
def no_trim_user(redis_client, redis_server):
    """A Redis URL whose user may run every command but LTRIM (removed again afterwards)."""
    name = f"no-trim-{uuid.uuid4().hex[:8]}"
    redis_client.execute_command("ACL", "SETUSER", name, "on", ">secret", "~*", "&*", "+@all", "-ltrim")
    yield f"redis://{name}:secret@127.0.0.1:{redis_server.port}/0"
    redis_client.execute_command("ACL", "DELUSER", name)


def test_the_fold_is_idempotent_when_the_recorder_is_killed_between_reading_and_trimming(
    app, start_recorder, redis_client, key_prefix, no_trim_user
):
    tag = f"fold-{uuid.uuid4().hex[:8]}"
    total = 2 * store.ORIGIN_BATCH + 200
    texts = [entry_for(f"{tag}-{i}", i) for i in range(total)]
    origins.push(redis_client, key_prefix, texts)
    listed = origins.origins_key(key_prefix)

    first = start_recorder(
        REDIS_URL=no_trim_user, CELERY_BROKER_URL=no_trim_user, CELERY_RESULT_BACKEND=no_trim_user
    )
    wait_until(
        lambda: (
            "folding origin entries failed" in first.log()
            and len(runs_tagged(app, tag)) == store.ORIGIN_BATCH
        ),
        timeout=60,
        what="the first batch committed and its removal refused",
    )
    assert redis_client.llen(listed) == total  # read and committed, not removed
    first.kill()
    assert redis_client.llen(listed) == total

    second = start_recorder()  # takes the lock once the killed recorder's lapses
    wait_until(lambda: redis_client.llen(listed) == 0, timeout=60, what="the list folded")
    runs = runs_tagged(app, tag)
    assert sorted(run.task_id for run in runs) == sorted(f"{tag}-{i}" for i in range(total))
    by_id = {run.task_id: run for run in runs}
    for i in range(total):
        run = by_id[f"{tag}-{i}"]
        assert (run.origin, run.origin_ref, run.args, run.state) == (
            "staging",
            f"item-{i}",
            f"[{i}, 1]",
            "PENDING",
        )
    assert skipped(redis_client, key_prefix) == {}
    second.check_running("recorder")


def test_a_malformed_entry_is_set_aside_counted_and_the_recorder_goes_on(
    app, start_recorder, redis_client, key_prefix, fetch_run
):
    recorder = start_recorder()
    tag = f"bad-{uuid.uuid4().hex[:8]}"
    malformed = [
        b"{not json",
        json.dumps({"task_id": f"{tag}-far", "origin": "staging", "sent_at": 1e300}),
        json.dumps({"task_id": f"{tag}-where", "origin": "nowhere", "sent_at": 1.0}),
    ]
    redis_client.rpush(
        origins.origins_key(key_prefix), entry_for(f"{tag}-0", 0), *malformed, entry_for(f"{tag}-1", 1)
    )

    wait_until(
        lambda: (run := fetch_run(f"{tag}-1")) is not None and run.origin == "staging",
        timeout=30,
        what="the entry after the malformed ones folded",
    )
    assert fetch_run(f"{tag}-0").origin_ref == "item-0"
    counted = wait_until(
        lambda: (s := skipped(redis_client, key_prefix)) and int(s["count"]) >= 3 and s,
        timeout=30,
        what="the malformed entries counted",
    )
    assert counted["count"] == "3"
    aside = [json.loads(raw) for raw in redis_client.lrange(origins.set_aside_key(key_prefix), 0, -1)]
    assert sorted(item["entry"] for item in aside) == sorted(
        raw.decode() if isinstance(raw, bytes) else raw for raw in malformed
    )
    assert any("sent_at out of range" in item["reason"] for item in aside)
    recent = [json.loads(raw) for raw in redis_client.lrange(keys.skipped_recent(key_prefix), 0, -1)]
    assert {item["task_id"] for item in recent} == {"?", f"{tag}-far", f"{tag}-where"}
    assert redis_client.llen(origins.origins_key(key_prefix)) == 0

    # It goes on: later entries are folded, and nothing more is counted.
    origins.push(redis_client, key_prefix, [entry_for(f"{tag}-2", 2)])
    wait_until(lambda: (run := fetch_run(f"{tag}-2")) is not None and run.origin == "staging", timeout=30)
    recorder.check_running("recorder")
    assert skipped(redis_client, key_prefix)["count"] == "3"
