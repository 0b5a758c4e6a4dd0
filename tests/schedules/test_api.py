"""The schedules JSON API: CRUD, enable/disable/trigger, next runs, preview, refusals."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from dashboard.core.runs import TaskRun
from dashboard.extensions import db
from dashboard.portal.models import AuditEntry
from dashboard.schedules.models import Schedule, ScheduleVersion
from dashboard.timeutil import utcnow
from tests.schedules.conftest import sent_messages

BASE = "/api/v1/schedules"
GOOD = {"name": "report", "task": "tasks.add", "kind": "cron", "cron": "*/5 * * * *", "args": [1, 2]}


def version(app) -> int:
    with app.app_context():
        return db.session.get(ScheduleVersion, 1).value


def count(app) -> int:
    with app.app_context():
        return db.session.query(Schedule).count()


def test_create_read_update_delete_bumps_the_version_each_time(app, client):
    start = version(app)
    created = client.post(BASE, json=GOOD)
    assert created.status_code == 201, created.json
    body = created.json
    assert body["enabled"] is False and body["next_run_at"] is None
    assert version(app) == start + 1
    schedule_id = body["id"]
    assert client.get(f"{BASE}/{schedule_id}").json["cron"] == "*/5 * * * *"
    patched = client.patch(f"{BASE}/{schedule_id}", json={"cron": "0 3 * * *", "timezone": "Europe/Paris"})
    assert patched.status_code == 200 and patched.json["timezone"] == "Europe/Paris"
    assert version(app) == start + 2
    assert [s["name"] for s in client.get(BASE).json] == ["report"]
    assert client.delete(f"{BASE}/{schedule_id}", json={}).status_code == 200
    assert version(app) == start + 3
    assert client.get(f"{BASE}/{schedule_id}").status_code == 404
    with app.app_context():
        actions = [a.action for a in db.session.query(AuditEntry).order_by(AuditEntry.id)]
    assert actions == ["schedule.create", "schedule.edit", "schedule.delete"]


def test_enable_plans_next_run_and_disable_clears_it(client):
    schedule_id = client.post(BASE, json=GOOD).json["id"]
    enabled = client.post(f"{BASE}/{schedule_id}/enable", json={}).json
    assert enabled["enabled"] is True and enabled["next_run_at"]
    disabled = client.post(f"{BASE}/{schedule_id}/disable", json={}).json
    assert disabled["enabled"] is False and disabled["next_run_at"] is None


def test_enable_now_creates_an_enabled_schedule(client):
    body = client.post(BASE, json={**GOOD, "enable_now": True}).json
    assert body["enabled"] is True and body["next_run_at"]


def test_next_runs_and_preview(client):
    schedule_id = client.post(BASE, json={**GOOD, "cron": "0 12 * * *", "timezone": "America/New_York"}).json[
        "id"
    ]
    runs = client.get(f"{BASE}/{schedule_id}/next-runs?count=3").json["runs"]
    assert len(runs) == 3 and all("12:00:00 E" in r["schedule_zone"] for r in runs)
    preview = client.get(
        f"{BASE}/preview",
        query_string={"kind": "interval", "interval_every": "90", "interval_unit": "minutes"},
    )
    assert preview.status_code == 200 and preview.json["human"] == "Every 90 minutes"
    assert len(preview.json["runs"]) == 5
    bad = client.get(f"{BASE}/preview", query_string={"kind": "cron", "cron": "61 * * * *"})
    assert bad.status_code == 422 and bad.json["field"] == "cron"


def test_trigger_sends_now_with_the_schedule_id_and_records_history(app, client, redis_client, queue_name):
    schedule_id = client.post(BASE, json={**GOOD, "queue": queue_name}).json["id"]
    reply = client.post(f"{BASE}/{schedule_id}/trigger", json={})
    assert reply.status_code == 202
    task_id = reply.json["task_id"]
    [message] = sent_messages(redis_client, queue_name)
    assert message["id"] == task_id and message["taskdeck_schedule_id"] == str(schedule_id)
    with app.app_context():
        run = db.session.query(TaskRun).filter_by(task_id=task_id).one()
        assert (run.origin, run.origin_ref) == ("schedule", str(schedule_id))
        assert db.session.get(Schedule, schedule_id).last_task_id == task_id


PAST = (utcnow() - timedelta(hours=1)).replace(tzinfo=None).isoformat(timespec="seconds")

BAD = [
    ({"cron": "61 * * * *"}, "cron"),
    ({"cron": "not a cron"}, "cron"),
    ({"kind": "interval", "interval_every": 0, "interval_unit": "seconds"}, "interval_every"),
    ({"kind": "interval", "interval_every": -5, "interval_unit": "minutes"}, "interval_every"),
    ({"kind": "once", "run_at": PAST}, "run_at"),
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ({"args": {"x": 1}}, "args"),
    ({"args": "[1, 2"}, "args"),
    ({"kwargs": [1]}, "kwargs"),
    ({"task": "tasks.nope"}, "task"),
    ({"args": [1, 2, 3]}, "args"),
    ({"name": ""}, "name"),
]


@pytest.mark.parametrize(("change", "field"), BAD, ids=[f"{f}-{i}" for i, (_, f) in enumerate(BAD)])
def test_bad_input_is_refused_with_the_field_and_nothing_saved(app, client, change, field):
    start = version(app)
    reply = client.post(BASE, json={**GOOD, **change})
    assert reply.status_code in (404, 422), reply.json
    assert reply.json["field"] == field
    assert count(app) == 0 and version(app) == start


def test_duplicate_name_is_refused_and_the_edit_of_another_changes_nothing(app, client):
    first = client.post(BASE, json=GOOD).json
    other = client.post(BASE, json={**GOOD, "name": "other"}).json
    reply = client.post(BASE, json=GOOD)
    assert reply.status_code == 422 and reply.json["field"] == "name"
    renamed = client.patch(f"{BASE}/{other['id']}", json={"name": first["name"], "cron": "0 0 * * *"})
    assert renamed.status_code == 422 and renamed.json["field"] == "name"
    assert client.get(f"{BASE}/{other['id']}").json["cron"] == "*/5 * * * *"
    assert count(app) == 2


def test_mutating_requests_must_be_json(client):
    reply = client.post(BASE, data=json.dumps(GOOD), content_type="text/plain")
    assert reply.status_code == 415


def test_import_is_all_or_nothing(app, client):
    good = [{**GOOD, "name": "a"}, {**GOOD, "name": "b", "enabled": True}]
    bad = [{**GOOD, "name": "c"}, {**GOOD, "name": "d", "cron": "nope"}]
    refused = client.post(f"{BASE}/import", json=bad)
    assert refused.status_code == 422 and refused.json["field"] == "cron"
    assert count(app) == 0
    assert client.post(f"{BASE}/import", json={"not": "a list"}).status_code == 400
    assert client.post(f"{BASE}/import", json=good).json == {"created": 2, "updated": 0}
    listed = {s["name"]: s["enabled"] for s in client.get(BASE).json}
    assert listed == {"a": False, "b": True}
    assert client.post(f"{BASE}/import", json=good).json == {"created": 0, "updated": 2}
