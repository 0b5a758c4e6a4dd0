"""Poison records: text no database takes, and records that cannot be stored at all.

A real worker runs the tasks and a real recorder process writes the history. Values that only
their characters make unstorable are stored by the text rule; a record that still cannot be
stored is skipped, counted and shown, and the runs after it are recorded all the same.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest

from dashboard.extensions import db
from dashboard.history import keys
from tests.history.conftest import wait_for_state
from tests.support.servers import wait_until

pytestmark = pytest.mark.worker


def skipped(redis_client, key_prefix: str) -> dict[str, str]:
    raw = redis_client.hgetall(keys.skipped_records(key_prefix))
    return {k.decode(): v.decode() for k, v in raw.items()}


def send(celery_app, name: str, task_id: str | None = None, **options) -> str:
    task_id = task_id or str(uuid.uuid4())
    celery_app.send_task(name, task_id=task_id, **options)
    return task_id


def test_lone_surrogates_and_nul_are_stored_by_the_rule_and_later_runs_still_recorded(
    celery_app, recorder, fetch_run, redis_client, key_prefix
):
    # tasks.add concatenates strings, so its result carries the lone surrogate too.
    surrogate = send(celery_app, "tasks.add", args=["\ud800", "x"])
    nul = send(celery_app, "tasks.add", kwargs={"x": "a\x00", "y": "\udc00"})
    failing = send(celery_app, "tasks.always_fails", kwargs={"message": "fire \ud800 and \x00 here"})
    ordinary = send(celery_app, "tasks.add", args=[2, 3])

    assert wait_for_state(fetch_run, ordinary, "SUCCESS").result == "5"
    run = wait_for_state(fetch_run, surrogate, "SUCCESS")
    assert json.loads(run.args) == ["\ufffd", "x"] and json.loads(run.result) == "\ufffdx"
    run = wait_for_state(fetch_run, nul, "SUCCESS")
    assert json.loads(run.kwargs) == {"x": "a\x00", "y": "\ufffd"}  # NUL kept as JSON's \u0000
    assert "\x00" not in run.kwargs and json.loads(run.result) == "a\x00\ufffd"
    run = wait_for_state(fetch_run, failing, "FAILURE")
    assert "fire \ufffd and \ufffd here" in run.traceback and "RuntimeError" in run.exception
    for text in (run.traceback, run.exception):
        text.encode("utf-8")
    recorder.check_running("recorder")
    assert skipped(redis_client, key_prefix) == {}  # the rule made every one storable


def test_a_record_that_cannot_be_stored_is_skipped_counted_and_shown(
    app, client, celery_app, recorder, start_recorder, fetch_run, redis_client, key_prefix
):
    # A retry count past any SQL integer fails on SQLite and PostgreSQL alike, whatever the text
    # (the updates that carry it are skipped; its other events may still make a row).
    poison = send(celery_app, "tasks.add", args=[1, 1], retries=10**30)
    # Task ids are String(64): PostgreSQL refuses a longer one, SQLite stores it.
    long_id = send(celery_app, "tasks.add", task_id="x" * 200, args=[1, 2])
    ordinary = send(celery_app, "tasks.add", args=[2, 3])

    assert wait_for_state(fetch_run, ordinary, "SUCCESS").result == "5"
    counted = wait_until(
        lambda: (s := skipped(redis_client, key_prefix)) and int(s["count"]) >= 1 and s,
        timeout=45,
        what="the poison record counted",
    )
    recent = [json.loads(item) for item in redis_client.lrange(keys.skipped_recent(key_prefix), 0, -1)]
    assert poison in {item["task_id"] for item in recent}
    assert any("Overflow" in item["reason"] or "out of range" in item["reason"] for item in recent)
    with app.app_context():
        dialect = db.engine.dialect.name
    if dialect == "sqlite":
        assert wait_for_state(fetch_run, long_id, "SUCCESS").result == "3"
    else:
        wait_until(
            lambda: (
                long_id
                in {
                    json.loads(i)["task_id"]
                    for i in redis_client.lrange(keys.skipped_recent(key_prefix), 0, -1)
                }
            ),
            timeout=45,
            what="the over-long id skipped",
        )
    recorder.check_running("recorder")

    # The recorder may skip further updates of the poison record while the tile renders, so the
    # shown count lies between the count read before and the count read after.
    before = int(skipped(redis_client, key_prefix)["count"])
    html = client.get("/overview/tiles/recorder", headers={"HX-Request": "true"}).get_data(as_text=True)
    count = int(skipped(redis_client, key_prefix)["count"])
    assert before >= int(counted["count"])
    shown = re.search(r"(\d+) records? skipped \(last: ", html)
    assert shown and before <= int(shown[1]) <= count and "badge-warn" in html
    metrics = client.get("/metrics").get_data(as_text=True)
    assert re.search(r"^taskdeck_history_skipped_records (\d+)\.0$", metrics, re.M)
    assert int(re.search(r"^taskdeck_history_skipped_records (\d+)", metrics, re.M)[1]) >= count

    # A restart reconciles from the result backend, which still holds the poison record: the new
    # recorder skips it again and goes on recording.
    recorder.stop()
    again = start_recorder()
    after = send(celery_app, "tasks.add", args=[20, 22])
    assert wait_for_state(fetch_run, after, "SUCCESS").result == "42"
    again.check_running("recorder")
