"""Origin entries: the text senders leave in Redis, and the fold of them into the history."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from dashboard.core import origins
from dashboard.core.dispatch import Outgoing
from dashboard.core.runs import TaskRun
from dashboard.extensions import db
from dashboard.history import keys, merge, store
from dashboard.history.merge import RunUpdate
from dashboard.history.recorder import Recorder

SENT_AT = 1_700_000_000.5


def entry_for(task_id: str, i: int = 0, **fields) -> str:
    sent = Outgoing(task="tasks.add", args=[i, 1], origin="staging", origin_ref=f"item-{i}", task_id=task_id)
    return origins.entry(sent, fields.pop("queue", "celery"), fields.pop("sent_at", SENT_AT))


def columns(run: TaskRun) -> dict:
    names = ("state", "name", "args", "kwargs", "queue", "origin", "origin_ref", "retry_of", "result")
    return {name: getattr(run, name) for name in names}


def fold(app, redis_client, key_prefix) -> tuple[int, list]:
    set_aside = []
    with app.app_context():
        folded = store.fold_origins(
            db.session, redis_client, key_prefix, 500, lambda *args: set_aside.append(args)
        )
    return folded, set_aside


def test_an_entry_is_storable_bounded_text_and_reads_back_as_built():
    long = "x" * (origins.VALUE_LIMIT + 10)
    sent = Outgoing(
        task="tasks.add",
        args=["\ud800", "a\x00", long],
        kwargs={"k": "é"},
        origin="schedule",
        origin_ref="7",
        task_id="t-1",
    )
    text = origins.entry(sent, "celery", SENT_AT)
    text.encode("utf-8")  # lone surrogates replaced: storable as UTF-8
    data = json.loads(text)
    assert set(data) == {
        "task_id", "name", "args", "kwargs", "queue", "origin", "origin_ref", "retry_of", "sent_at",
    }  # fmt: skip
    assert (
        data["args"].startswith('["\ufffd", "a\\u0000", "xxx')
        and "more characters not stored" in data["args"]
    )
    entry = origins.OriginEntry.from_json(text)
    assert (entry.task_id, entry.name, entry.origin, entry.origin_ref, entry.retry_of) == (
        "t-1",
        "tasks.add",
        "schedule",
        "7",
        None,
    )
    assert (entry.queue, entry.kwargs, entry.args) == ("celery", '{"k": "é"}', data["args"])
    assert entry.sent_time == datetime.fromtimestamp(SENT_AT, UTC)
    assert origins.VALUE_LIMIT == merge.VALUE_LIMIT  # the history's own column rule


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"\xff\xfe not utf-8",
        b"[1, 2]",
        json.dumps({"origin": "staging", "sent_at": 1.0}),
        json.dumps({"task_id": "a", "origin": "elsewhere", "sent_at": 1.0}),
        json.dumps({"task_id": "a", "origin": "staging", "sent_at": 1e300}),
        json.dumps({"task_id": "a", "origin": "staging", "sent_at": "yesterday"}),
        json.dumps({"task_id": "a", "origin": "staging", "sent_at": 1.0, "args": [1]}),
        "[" * 100_000,
    ],
)
def test_anything_but_an_entry_is_refused_as_unreadable(raw):
    with pytest.raises(origins.UnreadableEntry):
        origins.OriginEntry.from_json(raw)


def test_the_fold_adds_the_origin_to_a_row_the_events_made_without_moving_its_state(
    app, redis_client, key_prefix
):
    done, new = f"done-{uuid.uuid4()}", f"new-{uuid.uuid4()}"
    with app.app_context():  # the events came first: a finished run, recorded without its origin
        succeeded = {"type": "task-succeeded", "uuid": done, "timestamp": SENT_AT + 5, "result": "1"}
        store.apply_updates(db.session, [RunUpdate.from_event(succeeded)])
    texts = [entry_for(done, 0), entry_for(new, 1)]
    assert origins.push(redis_client, key_prefix, texts) == 2

    assert fold(app, redis_client, key_prefix) == (2, [])
    assert redis_client.llen(origins.origins_key(key_prefix)) == 0
    with app.app_context():
        runs = {run.task_id: run for run in db.session.query(TaskRun)}
        assert columns(runs[done]) == {
            "state": "SUCCESS",
            "name": "tasks.add",
            "args": "[0, 1]",
            "kwargs": "{}",
            "queue": "celery",
            "origin": "staging",
            "origin_ref": "item-0",
            "retry_of": None,
            "result": "1",
        }
        assert (runs[new].state, runs[new].origin, runs[new].origin_ref) == ("PENDING", "staging", "item-1")
        assert runs[new].sent_at.replace(tzinfo=UTC) == datetime.fromtimestamp(SENT_AT, UTC)
        before = {task_id: columns(run) for task_id, run in runs.items()}

    # A crash after the commit and before the removal: the same entries are read again.
    origins.push(redis_client, key_prefix, texts)
    assert fold(app, redis_client, key_prefix) == (2, [])
    with app.app_context():
        again = {run.task_id: columns(run) for run in db.session.query(TaskRun)}
    assert again == before


def test_a_batch_is_removed_only_while_it_is_still_the_head(redis_client, key_prefix):
    texts = [entry_for(f"head-{i}", i) for i in range(5)]
    origins.push(redis_client, key_prefix, texts)
    batch = origins.peek(redis_client, key_prefix, 3)
    assert [raw.decode() for raw in batch] == texts[:3]
    assert origins.trim(redis_client, key_prefix, batch)  # the reader that folded it
    assert not origins.trim(redis_client, key_prefix, batch)  # one that lost the race removes nothing
    remaining = redis_client.lrange(origins.origins_key(key_prefix), 0, -1)
    assert [raw.decode() for raw in remaining] == texts[3:]


def test_unreadable_entries_are_set_aside_after_their_batch_and_the_rest_is_folded(
    app, redis_client, key_prefix
):
    good = f"good-{uuid.uuid4()}"
    redis_client.rpush(origins.origins_key(key_prefix), b"{not json", entry_for(good), b"[]")
    folded, set_aside = fold(app, redis_client, key_prefix)
    assert folded == 1
    assert [(task_id, raw) for task_id, _error, raw in set_aside] == [("?", b"{not json"), ("?", b"[]")]
    assert all(isinstance(error, origins.UnreadableEntry) for _id, error, _raw in set_aside)
    assert redis_client.llen(origins.origins_key(key_prefix)) == 0
    with app.app_context():
        assert db.session.query(TaskRun).filter_by(task_id=good, origin="staging").count() == 1


def test_a_full_list_turns_entries_away_and_the_recorder_counts_them(app, redis_client, key_prefix):
    key = origins.origins_key(key_prefix)
    pipe = redis_client.pipeline(transaction=False)
    for _ in range(origins.MAX_ENTRIES // 10_000):
        pipe.rpush(key, *(["x"] * 10_000))
    pipe.execute()
    assert origins.push(redis_client, key_prefix, [entry_for("late-1"), entry_for("late-2")]) == 0
    assert redis_client.llen(key) == origins.MAX_ENTRIES
    redis_client.delete(key)
    with app.app_context():
        recorder = Recorder(app)
        recorder.count_dropped_origins()
        recorder.count_dropped_origins()  # counted once: the count was taken
    skipped = {
        k.decode(): v.decode() for k, v in redis_client.hgetall(keys.skipped_records(key_prefix)).items()
    }
    assert skipped["count"] == "2" and "2 origin entries dropped" in skipped["last_reason"]
    assert recorder.skipped == 2
