"""One table of run options, crossed with every entry point that takes them.

A bad value is refused the same way wherever it is typed: a 4xx that names the field (the API's
JSON ``field``, or the error shown next to the form's field), and nothing written or sent: the
test's Redis keys, the broker queues and the SQL rows are as they were, except the audit row
every change request leaves (the product audits refusals too). Good values pass everywhere, so
the table cannot pass by refusing everything.

Bodies are written as JSON text, not built with ``json.dumps``: Infinity must reach the server
as such, and a list nested 1,000 deep cannot be encoded by Python's json in the first place.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

DEEP = "[" * 1000 + "]" * 1000
# tasks.add(x, y) with x a list nested 31 levels: 32 levels in all, the most that is accepted.
DEEPEST_ACCEPTED = "[" + "[" * 31 + "]" * 31 + ", 2]"
TOMORROW_IN_PARIS = (datetime.now(ZoneInfo("Europe/Paris")) + timedelta(days=1)).replace(tzinfo=None)

# (case, option, the value as JSON text, other options as JSON text)
REFUSED = [
    ("priority 10", "priority", "10", {}),
    ("priority -1", "priority", "-1", {}),
    ("priority 255", "priority", "255", {}),
    ("priority text", "priority", '"x"', {}),
    ("priority true", "priority", "true", {}),
    ("priority 1.5", "priority", "1.5", {}),
    ("countdown -1", "countdown", "-1", {}),
    ("countdown text", "countdown", '"abc"', {}),
    ("countdown Infinity", "countdown", "Infinity", {}),
    ("countdown 1e12", "countdown", "1e12", {}),
    ("countdown 1e30", "countdown", "1e30", {}),
    ("countdown 10**30", "countdown", str(10**30), {}),
    ("expires 1e19", "expires", "1e19", {}),
    ("expires 10**19", "expires", str(10**19), {}),
    ("expires in the year 9999", "expires", '"9999-12-31T23:59:59"', {}),
    ("eta in the year 9999 in New York", "eta", '"9999-12-31T23:59:59"', {"timezone": '"America/New_York"'}),
    ("eta not a date", "eta", '"not a date"', {}),
    ("timezone Europe (a directory)", "timezone", '"Europe"', {}),
    ("timezone Nowhere/City", "timezone", '"Nowhere/City"', {}),
    ("timezone NUL", "timezone", '"\\u0000"', {}),
    ("timezone ../x", "timezone", '"../x"', {}),
    ("queue unknown", "queue", '"no-such-queue"', {}),
    ("args nested 1000 deep", "args", DEEP, {}),
    ("args not a list", "args", '{"x": 1}', {}),
    ("kwargs not an object", "kwargs", "[1]", {}),
]

ACCEPTED = [
    ("priority 0", "priority", "0", {}),
    ("priority 9", "priority", "9", {}),
    ("countdown 600", "countdown", "600", {}),
    ("expires in an hour", "expires", "3600", {}),
    (
        "eta tomorrow in Paris",
        "eta",
        json.dumps(TOMORROW_IN_PARIS.isoformat()),
        {"timezone": '"Europe/Paris"'},
    ),
    ("timezone New York", "timezone", '"America/New_York"', {}),
    ("queue blank: the default route", "queue", '""', {}),
    ("queue declared in the app", "queue", '"{run_queue}"', {}),
    ("args nested 32 levels", "args", DEEPEST_ACCEPTED, {}),
]


def members(fields: dict[str, str]) -> str:
    """A JSON object from member values that are already JSON text."""
    return "{" + ", ".join(f"{json.dumps(name)}: {value}" for name, value in fields.items()) + "}"


def form_text(raw: str) -> str:
    """What an operator types in a form field for the JSON value ``raw``: a string without quotes."""
    return json.loads(raw) if raw.startswith('"') else raw


# What schedules call the options they have: a schedule's period, its one run time, its expiry.
SCHEDULE_NAMES = {"countdown": "interval_every", "eta": "run_at", "expires": "expires_seconds"}


def schedule_fields(option: str, raw: str, extra: dict[str, str]) -> dict[str, str]:
    fields = {"name": '"probe"', "task": '"tasks.add"', "kind": '"interval"', "interval_every": "60"}
    fields["args"] = "[1, 2]"
    if option == "eta":
        fields["kind"] = '"once"'
        del fields["interval_every"]
    return {**fields, **extra, SCHEDULE_NAMES.get(option, option): raw}


@dataclass(frozen=True)
class EntryPoint:
    name: str
    accepted_status: int
    form: bool = False  # an HTML form (the error is shown next to the field) rather than the JSON API

    def field(self, option: str) -> str:
        return SCHEDULE_NAMES.get(option, option) if self.name.startswith("schedules") else option

    def send(self, client, option: str, raw: str, extra: dict[str, str], *, staged_id: str, accepted: bool):
        """Post ``option`` (JSON text ``raw``) with ``extra``; ``accepted`` runs are staged, not sent."""
        if self.name == "run form":
            data = {"mode": "json", "args": "[1, 2]", "kwargs": "{}", "when": "now", "timezone": "UTC"}
            data.update({name: form_text(value) for name, value in extra.items()})
            data.update({"priority": "", "queue": "", "submission": "staged" if accepted else "direct"})
            if option in ("countdown", "eta"):
                data["when"] = option
            data[option] = form_text(raw)
            return client.post("/tasks/tasks.add/run", data=data, headers={"HX-Request": "true"})
        if self.name == "schedules form":
            fields = schedule_fields(option, raw, extra)
            data = {"timezone": "UTC", "interval_unit": "seconds", "kwargs": "{}"}
            data.update({name: form_text(value) for name, value in fields.items()})
            return client.post("/schedules/new", data=data)
        if self.name == "API run":
            fields = {"args": "[1, 2]", **extra, option: raw}
            if accepted:
                fields["submission"] = '"staged"'
            return _post_json(client, "post", "/api/v1/tasks/tasks.add/run", members(fields))
        if self.name in ("API staging POST", "API staging PATCH"):
            if option in ("args", "kwargs"):
                body = members({"task": '"tasks.add"', "args": "[1, 2]", option: raw})
            else:
                body = members(
                    {"task": '"tasks.add"', "args": "[1, 2]", "options": members({**extra, option: raw})}
                )
            if self.name == "API staging POST":
                return _post_json(client, "post", "/api/v1/staging", body)
            return _post_json(client, "patch", f"/api/v1/staging/{staged_id}", body)
        body = members(schedule_fields(option, raw, extra))
        if self.name == "schedules API POST":
            return _post_json(client, "post", "/api/v1/schedules", body)
        return _post_json(client, "post", "/api/v1/schedules/import", f"[{body}]")


def _post_json(client, method: str, path: str, body: str):
    return getattr(client, method)(path, data=body, content_type="application/json")


ENTRY_POINTS = [
    EntryPoint("run form", 200, form=True),
    EntryPoint("API run", 201),
    EntryPoint("API staging POST", 201),
    EntryPoint("API staging PATCH", 200),
    EntryPoint("schedules API POST", 201),
    EntryPoint("schedules form", 302, form=True),
    EntryPoint("schedules JSON import", 200),
]


def errors_next_to(html: str, entry: EntryPoint, field: str) -> list[str]:
    """The error messages the page shows at ``field``."""
    if entry.name == "schedules form":
        return re.findall(rf'<p class="field-error" role="alert" data-field="{field}">([^<]+)</p>', html)
    block = html.split(f'id="{field}"', 1)[1].split("</div>", 1)[0]
    return re.findall(r'<p class="field-error" role="alert">([^<]+)</p>', block)


def _cases(table):
    return [pytest.param(case, id=case[0]) for case in table]


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=lambda e: e.name)
@pytest.mark.parametrize("case", _cases(REFUSED))
def test_a_bad_value_is_refused_naming_the_field_and_nothing_is_written(
    client, observe, last_audit, staged_id, entry, case
):
    _name, option, raw, extra = case
    before = observe()
    response = entry.send(client, option, raw, extra, staged_id=staged_id, accepted=False)
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)[:500]
    field = entry.field(option)
    if entry.form:
        assert errors_next_to(response.get_data(as_text=True), entry, field), f"no error next to {field}"
    else:
        body = response.get_json()
        assert body["field"] == field and body["error"], body
    (keys, queues, rows), (keys_after, queues_after, rows_after) = before, observe()
    assert keys_after == keys
    assert queues_after == queues
    assert {**rows_after, "audit_log": rows["audit_log"]} == rows
    assert rows_after["audit_log"] == rows["audit_log"] + 1
    assert last_audit()[1] in (str(response.status_code), f"refused {response.status_code}")


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=lambda e: e.name)
@pytest.mark.parametrize("case", _cases(ACCEPTED))
def test_a_good_value_is_accepted_everywhere(client, observe, staged_id, run_queue, entry, case):
    _name, option, raw, extra = case
    raw = raw.replace("{run_queue}", run_queue)
    before = observe()
    response = entry.send(client, option, raw, extra, staged_id=staged_id, accepted=True)
    assert response.status_code == entry.accepted_status, response.get_data(as_text=True)[:1000]
    assert observe() != before  # the run was staged, the item edited or the schedule stored
