"""The schedules pages: list, form with field errors, in-place toggles, export and import."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest

from dashboard.extensions import db
from dashboard.schedules.models import Schedule, ScheduleVersion
from dashboard.timeutil import utcnow
from tests.support.servers import wait_until

FORM = {
    "name": "nightly",
    "task": "tasks.add",
    "kind": "cron",
    "timezone": "America/New_York",
    "cron": "30 2 * * *",
    "interval_unit": "seconds",
    "args": "[1, 2]",
    "kwargs": "{}",
}


def saved(app) -> list[Schedule]:
    with app.app_context():
        rows = db.session.query(Schedule).order_by(Schedule.id).all()
        db.session.expunge_all()
        return rows


def version(app) -> int:
    with app.app_context():
        return db.session.get(ScheduleVersion, 1).value


def test_list_shows_empty_state_and_static_section(client):
    page = client.get("/schedules/")
    assert page.status_code == 200
    assert b"No schedules" in page.data and b"beat_schedule" in page.data


def test_form_creates_a_disabled_schedule_unless_enable_now(app, client):
    reply = client.post("/schedules/new", data=FORM)
    assert reply.status_code == 302
    reply = client.post("/schedules/new", data={**FORM, "name": "now", "enable_now": "y"})
    assert reply.status_code == 302
    rows = saved(app)
    assert [(r.name, r.enabled) for r in rows] == [("nightly", False), ("now", True)]
    assert rows[1].next_run_at is not None
    listing = client.get("/schedules/").get_data(as_text=True)
    assert "nightly" in listing and "At 02:30 (America/New_York)" in listing


PAST = (utcnow() - timedelta(days=1)).replace(tzinfo=None).isoformat(timespec="minutes")
BAD_FORMS = [
    ({"cron": "99 * * * *"}, "cron"),
    ({"kind": "interval", "interval_every": "0"}, "interval_every"),
    ({"kind": "interval", "interval_every": "-1"}, "interval_every"),
    ({"kind": "once", "run_at": PAST}, "run_at"),
    ({"timezone": "Nowhere/Atlantis"}, "timezone"),
    ({"args": '{"a": 1}'}, "args"),
    ({"kwargs": "[]"}, "kwargs"),
    ({"kwargs": "{oops"}, "kwargs"),
    ({"task": "tasks.unknown"}, "task"),
]


@pytest.mark.parametrize(("change", "field"), BAD_FORMS, ids=[f for _, f in BAD_FORMS])
def test_form_refuses_bad_input_next_to_the_field_and_saves_nothing(app, client, change, field):
    start = version(app)
    reply = client.post("/schedules/new", data={**FORM, **change})
    assert reply.status_code == 422
    html = reply.get_data(as_text=True)
    assert f'data-field="{field}"' in html
    assert saved(app) == [] and version(app) == start


def test_form_refuses_duplicate_name(app, client):
    client.post("/schedules/new", data=FORM)
    reply = client.post("/schedules/new", data={**FORM, "cron": "0 * * * *"})
    assert reply.status_code == 422 and 'data-field="name"' in reply.get_data(as_text=True)
    assert len(saved(app)) == 1


def test_edit_form_round_trips_and_saves(app, client):
    client.post("/schedules/new", data=FORM)
    schedule_id = saved(app)[0].id
    page = client.get(f"/schedules/{schedule_id}/edit").get_data(as_text=True)
    assert 'value="30 2 * * *"' in page and "America/New_York" in page
    reply = client.post(f"/schedules/{schedule_id}/edit", data={**FORM, "cron": "0 4 * * *"})
    assert reply.status_code == 302
    assert saved(app)[0].cron == "0 4 * * *"


def test_preview_fragment_shows_runs_in_both_zones_or_the_error(client):
    client.set_cookie("td_tz", "Asia/Tokyo")
    ok = client.get(
        "/schedules/preview", query_string={"kind": "cron", "cron": "0 12 * * *", "timezone": "UTC"}
    )
    html = ok.get_data(as_text=True)
    assert html.count("12:00:00 UTC") == 5 and html.count("21:00:00 JST") == 5
    bad = client.get(
        "/schedules/preview", query_string={"kind": "cron", "cron": "0 12 * *", "timezone": "UTC"}
    )
    assert "5 fields" in bad.get_data(as_text=True)


def test_toggle_trigger_duplicate_delete_from_the_list(app, client, redis_client, queue_name):
    client.post("/schedules/new", data={**FORM, "queue": queue_name})
    schedule_id = saved(app)[0].id
    row = client.post(f"/schedules/{schedule_id}/enable", headers={"HX-Request": "true"})
    assert row.status_code == 200 and 'aria-pressed="true"' in row.get_data(as_text=True)
    assert saved(app)[0].enabled is True
    row = client.post(f"/schedules/{schedule_id}/disable", headers={"HX-Request": "true"})
    assert 'aria-pressed="false"' in row.get_data(as_text=True)
    row = client.post(f"/schedules/{schedule_id}/trigger", headers={"HX-Request": "true"})
    task_id = saved(app)[0].last_task_id
    assert task_id and f"/history/runs/{task_id}" in row.get_data(as_text=True)
    assert redis_client.llen(queue_name) == 1
    copy = client.post(f"/schedules/{schedule_id}/duplicate")
    assert copy.status_code == 302
    assert [(r.name, r.enabled) for r in saved(app)] == [("nightly", False), ("nightly (copy)", False)]
    gone = client.post(f"/schedules/{schedule_id}/delete", headers={"HX-Request": "true"})
    assert gone.status_code == 200 and gone.data == b""
    assert [r.name for r in saved(app)] == ["nightly (copy)"]


def test_filter_by_task_and_enabled(client):
    client.post("/schedules/new", data=FORM)
    client.post(
        "/schedules/new", data={**FORM, "name": "report", "task": "tasks.cleanup_expired_data", "args": "[]"}
    )
    html = client.get("/schedules/?task=tasks.cleanup_expired_data", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "report" in html and "nightly" not in html
    assert "No schedules match" in client.get("/schedules/?enabled=yes").get_data(as_text=True)


def test_export_json_and_csv_then_import_round_trip(app, client):
    client.post("/schedules/new", data=FORM)
    exported = client.get("/schedules/export.json")
    items = json.loads(exported.data)
    assert items[0]["name"] == "nightly" and items[0]["args"] == [1, 2]
    csv_text = client.get("/schedules/export.csv").get_data(as_text=True)
    assert csv_text.splitlines()[0].startswith("name,task,kind") and "nightly" in csv_text
    items[0]["name"] = "imported"
    reply = client.post("/schedules/import", data={"payload": json.dumps(items)})
    assert reply.status_code == 302
    assert [r.name for r in saved(app)] == ["nightly", "imported"]
    refused = client.post("/schedules/import", data={"payload": json.dumps({"name": "x"})})
    assert refused.status_code == 400 or refused.status_code == 422
    assert "must be a JSON list" in refused.get_data(as_text=True)
    assert len(saved(app)) == 2


@pytest.mark.parametrize("start", ["=", "+", "-", "@"])
def test_csv_export_never_hands_a_spreadsheet_a_formula(client, start):
    name = f'{start}HYPERLINK("http://evil.example","x")'
    assert client.post("/schedules/new", data={**FORM, "name": name}).status_code == 302
    rows = list(csv.reader(io.StringIO(client.get("/schedules/export.csv").get_data(as_text=True))))
    cell = rows[1][rows[0].index("name")]
    assert cell == "'" + name  # shown as the text it is
    assert client.get("/schedules/export.json").get_json()[0]["name"] == name  # the data is unchanged


def test_list_warns_when_no_live_worker_has_the_task(app, client):
    # A schedule whose task was since removed from the code: no worker registers it.
    with app.app_context():
        db.session.add(Schedule(name="orphan", task="tasks.removed_long_ago", kind="cron", cron="0 * * * *"))
        db.session.commit()
    html = client.get("/schedules/").get_data(as_text=True)
    assert "registered on no live worker" in html


def test_list_does_not_warn_for_a_task_on_a_live_worker(app, client, celery_worker):
    client.post("/schedules/new", data=FORM)
    # The shared inspect cache refreshes every WORKERS_CACHE_SECONDS; on a loaded machine one
    # broadcast may miss the worker's reply, the next one sees it.
    wait_until(
        lambda: "registered on no live worker" not in client.get("/schedules/").get_data(as_text=True),
        timeout=30,
        what="the list to stop warning once the worker's registered tasks are known",
    )
