"""Hostile input, class by class, through the real entry points: each is refused at the boundary.

Every refusal is a 4xx naming the input, and leaves nothing behind: the test's Redis keys, the
broker queues and the SQL rows are as they were, except the audit row a change request leaves
(the refusal is audited too). Bodies are written as JSON text: ``"\\ud800"`` and ``Infinity``
must reach the server as such, and Python's json cannot even build a list nested 10,000 deep.
"""

from __future__ import annotations

import base64
import json

import pytest

from tests.core.test_run_option_refusals import members

DEEP = "[" * 10_000 + "]" * 10_000
SCHEDULE = {"name": '"probe"', "task": '"tasks.add"', "kind": '"interval"', "interval_every": "60"}


def schedule(**fields: str) -> str:
    return members({**SCHEDULE, "args": "[1, 2]", **fields})


def staged(**fields: str) -> str:
    return members({"task": '"tasks.add"', "args": "[1, 2]", **fields})


SURROGATE_IMPORT = "[" + schedule(name='"\\ud800"') + "]"
DEEP_KWARGS = '{"x": ' + DEEP + "}"
DEEP_IMPORT = "[" + schedule(kwargs=DEEP_KWARGS) + "]"


def assert_refused_and_nothing_changed(response, field: str, before, after, *, audited: bool) -> None:
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)[:500]
    body = response.get_json()
    assert body["field"] == field and body["error"], body
    (keys, queues, rows), (keys_after, queues_after, rows_after) = before, after
    assert keys_after == keys
    assert queues_after == queues
    assert {**rows_after, "audit_log": rows["audit_log"]} == rows
    assert rows_after["audit_log"] == rows["audit_log"] + (1 if audited else 0)


# (case, method, path, JSON body text, the field named). Changes: each leaves one audit row.
CHANGES = [
    # Lone surrogates: valid JSON, no Unicode text.
    ("surrogate in run args", "post", "/api/v1/tasks/tasks.add/run", '{"args": ["\\ud800", 1]}', "args"),
    (
        "surrogate in a nested key",
        "post",
        "/api/v1/tasks/tasks.add/run",
        '{"kwargs": {"\\udfff": 1}}',
        "kwargs",
    ),
    ("surrogate in schedule name", "post", "/api/v1/schedules", schedule(name='"x\\ud800"'), "name"),
    ("surrogate in staging note", "post", "/api/v1/staging", staged(note='"\\udc00"'), "note"),
    # A NUL: valid JSON and valid text, but no name holds one and PostgreSQL stores none.
    ("NUL in schedule name", "post", "/api/v1/schedules", schedule(name='"x\\u0000y"'), "name"),
    (
        "NUL in schedule description",
        "post",
        "/api/v1/schedules",
        schedule(description='"line\\u0000"'),
        "description",
    ),
    ("surrogate in an import", "post", "/api/v1/schedules/import", SURROGATE_IMPORT, "name"),
    # Nesting far beyond the decoder's bound (and Python's recursion limit).
    ("deep run args", "post", "/api/v1/tasks/tasks.add/run", members({"args": DEEP}), "args"),
    ("deep schedule kwargs", "post", "/api/v1/schedules", schedule(kwargs=DEEP_KWARGS), "kwargs"),
    ("deep staging options", "post", "/api/v1/staging", staged(options=DEEP), "options"),
    ("deep import", "post", "/api/v1/schedules/import", DEEP_IMPORT, "kwargs"),
    # Numbers without an upper bound.
    (
        "schedule interval_every 10**30",
        "post",
        "/api/v1/schedules",
        schedule(interval_every=str(10**30)),
        "interval_every",
    ),
    (
        "schedule expires_seconds 10**19",
        "post",
        "/api/v1/schedules",
        schedule(expires_seconds=str(10**19)),
        "expires_seconds",
    ),
    (
        "staging priority Infinity",
        "post",
        "/api/v1/staging",
        staged(options='{"priority": Infinity}'),
        "priority",
    ),
    (
        "dispatcher low_water Infinity",
        "put",
        "/api/v1/staging/dispatcher",
        '{"low_water": Infinity}',
        "low_water",
    ),
    ("dispatcher low_water 1e30", "put", "/api/v1/staging/dispatcher", '{"low_water": 1e30}', "low_water"),
    (
        "dispatcher low_water 10**30",
        "put",
        "/api/v1/staging/dispatcher",
        f'{{"low_water": {10**30}}}',
        "low_water",
    ),
    ("dispatcher max_rate 1e308", "put", "/api/v1/staging/dispatcher", '{"max_rate": 1e308}', "max_rate"),
    (
        "dispatcher max_rate Infinity",
        "put",
        "/api/v1/staging/dispatcher",
        '{"max_rate": Infinity}',
        "max_rate",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"), [pytest.param(*case[1:], id=case[0]) for case in CHANGES]
)
def test_a_hostile_change_is_refused_naming_the_field_and_nothing_is_written(
    client, observe, last_audit, method, path, body, field
):
    before = observe()
    response = getattr(client, method)(path, data=body, content_type="application/json")
    assert_refused_and_nothing_changed(response, field, before, observe(), audited=True)
    assert last_audit()[1] == f"refused {response.status_code}"


BIG = str(10**30)

# (case, path, the field named). Reads: no audit row.
READS = [
    ("history API before", f"/api/v1/runs?before={BIG}", "before"),
    ("history API after", f"/api/v1/runs?after={BIG}", "after"),
    ("history API limit", f"/api/v1/runs?limit={BIG}", "limit"),
    ("history API limit of 5000 digits", "/api/v1/runs?limit=" + "9" * 5000, "limit"),
    ("audit API before", f"/api/v1/audit?before={BIG}", "before"),
    ("audit API limit", f"/api/v1/audit?limit={BIG}", "limit"),
    ("next runs count", "/api/v1/schedules/{schedule_id}/next-runs?count=1000000000", "count"),
    ("staging list limit", f"/api/v1/staging?limit={BIG}", "limit"),
    ("queue position", f"/api/v1/queues/celery/messages?position={BIG}", "position"),
    ("queue cursor offset 1e30", "/api/v1/queues/celery/messages?cursor={cursor}", "cursor"),
]


@pytest.fixture
def schedule_id(app) -> int:
    from dashboard.extensions import db
    from dashboard.redis_client import get_celery
    from dashboard.schedules import service

    with app.app_context():
        data = {
            "name": "probe",
            "task": "tasks.add",
            "kind": "interval",
            "interval_every": 60,
            "args": [1, 2],
        }
        created = service.create_schedule(db.session, get_celery(), data, max_payload=65536)
        db.session.commit()
        return created.id


@pytest.mark.parametrize(("path", "field"), [pytest.param(*case[1:], id=case[0]) for case in READS])
def test_an_unbounded_number_in_a_query_is_refused_with_its_bounds(client, observe, schedule_id, path, field):
    cursor = base64.urlsafe_b64encode(json.dumps({"s": 1, "o": 1e30, "h": "a" * 40}).encode()).decode()
    before = observe()
    response = client.get(path.format(schedule_id=schedule_id, cursor=cursor.rstrip("=")))
    assert_refused_and_nothing_changed(response, field, before, observe(), audited=False)
    if field != "cursor":
        assert " to " in response.get_json()["error"], "the bounds are stated"


@pytest.mark.parametrize("path", ["/history/", "/audit/"])
def test_a_page_refuses_a_cursor_beyond_any_row(client, path):
    response = client.get(f"{path}?before={BIG}")
    assert response.status_code == 422
    assert "before must be a whole number from 0 to 9223372036854775807" in response.get_data(as_text=True)


def test_a_form_cannot_carry_a_lone_surrogate(app, client, staged_id):
    """Werkzeug decodes form fields as UTF-8 and keeps bytes that are not (the CESU-8 ``ED A0 80``
    of a surrogate) as their %-escapes, so a form's text is always Unicode text."""
    from dashboard.redis_client import get_redis
    from dashboard.staging import service

    body = "args=%5B1%2C+2%5D&kwargs=%7B%7D&note=x%ED%A0%80y"
    response = client.post(
        f"/staging/{staged_id}/edit", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    with app.app_context():
        note = service.get_item(get_redis(), app.config["TASKDECK_KEY_PREFIX"], staged_id).note
    assert note == "x%ED%A0%80y"
    note.encode("utf-8")  # no surrogate


class Endless:
    """A WSGI input stream of zeros that counts what the app reads from it (so a 100 MB body
    costs nothing unless the app really reads it)."""

    def __init__(self, size: int = 100 * 1024 * 1024):
        self.size, self.read_bytes = size, 0

    def read(self, n: int | None = -1) -> bytes:
        left = self.size - self.read_bytes
        n = left if n is None or n < 0 else min(n, left)
        n = min(n, 1 << 20)
        self.read_bytes += n
        return b"0" * n

    def readline(self, n: int | None = -1) -> bytes:
        return self.read(n)


def send_stream(client, method: str, path: str, stream: Endless, content_type: str, length: int | None):
    """A request whose body is ``stream``, announced with Content-Length ``length`` (or chunked)."""
    environ, headers = {"wsgi.input": stream}, {}
    if length is None:  # as gunicorn passes a chunked body: terminated by the server
        environ["wsgi.input_terminated"] = True
        headers["Transfer-Encoding"] = "chunked"
    else:
        environ["CONTENT_LENGTH"] = str(length)
    return getattr(client, method)(
        path, content_type=content_type, headers=headers, environ_overrides=environ
    )


HUGE = 100 * 1024 * 1024


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/staging"),
        ("post", "/api/v1/tasks/tasks.add/run"),
        ("put", "/api/v1/staging/dispatcher"),
    ],
)
def test_a_100_mb_body_is_refused_before_it_is_read(client, observe, last_audit, method, path):
    before = observe()
    stream = Endless()
    response = send_stream(client, method, path, stream, "application/json", HUGE)
    assert response.status_code == 413
    assert response.get_json()["field"] == "body"
    assert "byte limit" in response.get_json()["error"]
    assert stream.read_bytes == 0
    assert_refused_and_nothing_changed(response, "body", before, observe(), audited=True)
    assert last_audit()[1] == "refused 413"


def test_a_chunked_body_is_cut_off_at_the_limit(app, client, observe):
    """Without a Content-Length (chunked, as gunicorn passes it), reading stops at the limit."""
    before = observe()
    stream = Endless()
    response = send_stream(client, "post", "/api/v1/staging", stream, "application/json", None)
    assert response.status_code == 413
    assert response.get_json()["field"] == "body"
    assert stream.read_bytes <= app.config["MAX_CONTENT_LENGTH"] + (1 << 20)  # one read past it at most
    assert_refused_and_nothing_changed(response, "body", before, observe(), audited=True)


def test_an_oversized_form_gets_the_error_page(client, observe):
    before = observe()
    stream = Endless()
    response = send_stream(
        client, "post", "/staging/dispatcher", stream, "application/x-www-form-urlencoded", HUGE
    )
    assert response.status_code == 413
    assert "Request too large" in response.get_data(as_text=True)
    assert stream.read_bytes == 0
    assert observe() == before  # refused before the view, by the CSRF check's read of the form


def test_the_limit_follows_the_payload_limit_and_an_import_may_be_larger(app, client, observe):
    payload = app.config["MAX_PAYLOAD_BYTES"]
    assert app.config["MAX_CONTENT_LENGTH"] == 4 * payload + 64 * 1024
    assert app.config["IMPORT_MAX_CONTENT_LENGTH"] == 16 * payload + 64 * 1024
    # A list of schedules larger than any other request may be: read, and judged on its content.
    many = "[" + ", ".join(schedule(name=f'"s{n}"', task='"tasks.nope"') for n in range(5000)) + "]"
    size = len(many.encode())
    assert app.config["MAX_CONTENT_LENGTH"] < size < app.config["IMPORT_MAX_CONTENT_LENGTH"]
    response = client.post("/api/v1/schedules/import", data=many, content_type="application/json")
    assert response.status_code != 413 and response.get_json()["field"] == "task"
    response = client.post("/api/v1/staging", data=many, content_type="application/json")
    assert response.status_code == 413


def test_an_explicit_limit_wins(tmp_path, redis_server, database_url, key_prefix):
    from dashboard import create_app
    from tests.conftest import app_config

    config = {**app_config(tmp_path, redis_server.url, database_url, key_prefix), "MAX_CONTENT_LENGTH": 1234}
    assert create_app(config).config["MAX_CONTENT_LENGTH"] == 1234


def deep_message(task_id: str) -> bytes:
    """A protocol-2 message as another producer might LPUSH it: args nested 10,000 deep, no argsrepr."""
    body = base64.b64encode(("[" + DEEP + ", {}, {}]").encode()).decode()
    envelope = {
        "body": body,
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {"lang": "py", "task": "tasks.add", "id": task_id},
        "properties": {"body_encoding": "base64", "delivery_tag": task_id, "priority": 0},
    }
    return json.dumps(envelope).encode()


def test_a_queue_message_nested_too_deep_is_shown_as_undecodable(client, redis_client, run_queue):
    redis_client.lpush(run_queue, deep_message("deep-args"))
    redis_client.lpush(run_queue, ('{"headers": ' + DEEP + "}").encode())  # the envelope itself
    page = client.get(f"/queues/{run_queue}")
    assert page.status_code == 200
    assert page.get_data(as_text=True).count("cannot be decoded: nested too deep") == 2
    messages = client.get(f"/api/v1/queues/{run_queue}/messages").get_json()["messages"]
    assert [m["problem"] for m in messages] == ["cannot be decoded: nested too deep"] * 2
    assert {m["task_id"] for m in messages} == {"deep-args", None}
