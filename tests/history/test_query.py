"""The search language: any text is either a query or a 422 naming ``q``, and what a query finds
in SQL (SQLite here, PostgreSQL in make test-postgres through the pages) is what a plain Python
reading of docs/history.md "Search" says it should find."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, insert, select

from dashboard.core.runs import TaskRun
from dashboard.history import query
from dashboard.history.query import All, Any, Not, QueryError

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
NAMES = ["tasks.add", "tasks.sync_partner", "tasks.sync_orders", None]
STATES = ["SUCCESS", "FAILURE", "RETRY", "PENDING"]
QUEUES = ["celery", "reports", None]
ARGS = ["[1, 2]", "['acme', 5]", None, '["100%_done"]']
KWARGS = ['{"partner": "acme"}', "{'partner': 'acme', 'n': 5}", '{"n": 5}', None, "{}"]
EXCEPTIONS = [None, "TimeoutError('timed out')", "ValueError('bad _ value')"]


def _rows() -> list[dict]:
    rows = []
    combos = itertools.product(NAMES, STATES, QUEUES, ARGS, KWARGS, EXCEPTIONS)
    for seq, (name, state, queue, args, kwargs, exception) in enumerate(
        itertools.islice(combos, 0, None, 7), 1
    ):
        rows.append(
            {
                "seq": seq,
                "task_id": f"{seq:04x}-id",
                "name": name,
                "state": state,
                "queue": queue,
                "args": args,
                "kwargs": kwargs,
                "exception": exception,
                "retries": seq % 4,
                "origin": ("operator", "schedule", "other")[seq % 3],
                "origin_ref": str(seq % 5),
                "created_at": NOW - timedelta(hours=seq % 48),
                "updated_at": NOW,
            }
        )
    return rows


ROWS = _rows()


@pytest.fixture(scope="module")
def engine():
    engine = create_engine("sqlite://")
    TaskRun.__table__.create(engine)
    with engine.begin() as connection:
        connection.execute(insert(TaskRun.__table__), ROWS)
    return engine


def _text(value: str | None, needle: str) -> bool:
    return value is not None and needle in value


def _glob(value: str | None, pattern: str) -> bool:
    if value is None:
        return False
    if "*" not in pattern:
        return value == pattern
    parts = pattern.split("*")
    if (
        not value.startswith(parts[0])
        or not value.endswith(parts[-1])
        or len(value) < len(parts[0]) + len(parts[-1])
    ):
        return False
    position = len(parts[0])
    for part in parts[1:-1]:
        found = value.find(part, position, len(value) - len(parts[-1]))
        if found < 0:
            return False
        position = found + len(part)
    return True


def holds(tree, row: dict) -> bool:
    """docs/history.md "Search", read plainly (the model the SQL is checked against)."""
    if isinstance(tree, Not):
        return not holds(tree.item, row)
    if isinstance(tree, All):
        return all(holds(item, row) for item in tree.items)
    if isinstance(tree, Any):
        return any(holds(item, row) for item in tree.items)
    name, value = tree.field, tree.value
    if name == "":
        return row["task_id"].startswith(value) or any(
            _text(row[c], value) for c in ("name", "args", "kwargs")
        )
    if name.startswith("kwargs."):
        key = name[7:]
        if value.lstrip("-").replace(".", "", 1).isdigit():
            forms = [f'"{key}": {value}', f"'{key}': {value}"]
        else:
            forms = [f'"{key}": "{value}"', f"'{key}': '{value}'"]
        return any(_text(row["kwargs"], form) for form in forms)
    if name in ("retries",):
        number, actual = float(value), row["retries"]
        return {":": actual == number, "=": actual == number, ">": actual > number, "<": actual < number,
                ">=": actual >= number, "<=": actual <= number}[tree.op]  # fmt: skip
    if name == "task":
        return _glob(row["name"], value)
    if name == "state":
        return row["state"] in value.upper().split(",")
    if name == "queue":
        return _glob(row["queue"], value)
    if name == "origin":
        return row["origin"] == value
    if name == "schedule":
        return row["origin"] == "schedule" and row["origin_ref"] == value
    if name == "id":
        return row["task_id"].startswith(value)
    if name in ("exception", "args", "kwargs"):
        return _text(row[name], value)
    if name == "since":
        return row["created_at"] >= query.moment(value, name, NOW)
    if name == "until":
        return row["created_at"] < query.moment(value, name, NOW)
    raise AssertionError(name)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


terms = st.one_of(
    st.sampled_from(["tasks.add", "tasks.sync*", "tasks.*orders", "*", "nothing"]).map(lambda v: f"task:{v}"),
    st.sampled_from(["SUCCESS", "failure", "RETRY,PENDING"]).map(lambda v: f"state:{v}"),
    st.sampled_from(["celery", "rep*"]).map(lambda v: f"queue:{v}"),
    st.sampled_from(["operator", "schedule", "other"]).map(lambda v: f"origin:{v}"),
    st.sampled_from(["0", "3"]).map(lambda v: f"schedule:{v}"),
    st.sampled_from(["00", "001", "zz"]).map(lambda v: f"id:{v}"),
    st.sampled_from(["timed out", "_", "%", "bad _ value"]).map(lambda v: f"exception:{_quoted(v)}"),
    st.sampled_from(["acme", "100%_", "5"]).map(lambda v: f"args:{_quoted(v)}"),
    st.sampled_from(["partner=acme", "n=5", "n=6"]).map(lambda v: f"kwargs.{v}"),
    st.sampled_from([">=2", ">1", "<1", ":3"]).map(lambda v: f"retries{v}"),
    st.sampled_from(["2h", "1d", "2026-11-30T12:00"]).map(lambda v: f"since:{v}"),
    st.sampled_from(["5h", "2026-12-01T06:00"]).map(lambda v: f"until:{v}"),
    st.sampled_from(["acme", "sync", "00a", "[1", "'n'"]).map(_quoted),
)


@st.composite
def queries(draw, depth: int = 0) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        if depth < 2 and draw(st.booleans()):
            inner = draw(queries(depth + 1))
            part = f"({inner})"
        else:
            part = draw(terms)
        if draw(st.integers(0, 4)) == 0:
            part = draw(st.sampled_from(["-", "NOT "])) + part
        parts.append(part)
    joiners = [draw(st.sampled_from([" ", " OR ", " AND "])) for _ in parts[1:]]
    return parts[0] + "".join(j + p for j, p in zip(joiners, parts[1:], strict=True))


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(text=queries())
def test_a_query_finds_in_sql_exactly_what_its_plain_reading_says(engine, text):
    tree = query.parse(text)
    with engine.connect() as connection:
        found = set(connection.scalars(select(TaskRun.task_id).where(query.clause(tree, NOW))))
    expected = {row["task_id"] for row in ROWS if holds(tree, row)}
    assert found == expected, text


@settings(max_examples=500, deadline=None)
@given(text=st.text(max_size=255) | st.text(alphabet='()"-: ORANDNOT\\ab*=<>', max_size=80))
def test_any_text_is_a_query_or_a_refusal_naming_q(text):
    try:
        tree = query.parse(text)
    except QueryError as error:
        assert error.field == "q" and error.status_code == 422
        return
    if tree is not None:
        query.clause(tree, NOW).compile()  # never raises for what parse accepted


@pytest.mark.parametrize(
    "text, why",
    [
        ("state:DONE", "state must be one of"),
        ("origin:mars", "origin must be one of"),
        ("retries>many", "retries needs a number"),
        ("retries>1e400", "retries needs a number"),
        ("since:yesterday", "since must be a date"),
        ("task>x", "task takes"),
        ("(a", "is not closed"),
        ("a)", "unexpected"),
        ("a OR", "need a term"),
        ("NOT", "NOT needs a term"),
        ('"open', "cannot be read"),
        ("(" * 9 + "a" + ")" * 9, "levels of parentheses"),
        (" ".join(["a"] * 31), "at most 30 terms"),
        ("NOT " * 200 + "a", "at most 30 terms"),
    ],
)
def test_what_is_not_in_the_language_is_refused_saying_why(text, why):
    with pytest.raises(QueryError) as refused:
        query.parse(text)
    assert why in refused.value.english


def test_text_terms_are_bounded_to_the_newest_runs_and_field_terms_are_not():
    assert query.scans(query.parse("state:FAILURE acme"))
    assert query.scans(query.parse("-kwargs.n=5"))
    assert not query.scans(query.parse("state:FAILURE task:tasks.* since:2h (queue:a OR worker:b)"))


def test_the_page_refuses_a_broken_search_with_its_reason_and_keeps_it_to_mend(client):
    response = client.get("/history/?q=(state:FAILURE")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "is not closed" in page and 'value="(state:FAILURE"' in page
    api = client.get("/api/v1/runs?q=state:DONE")
    assert api.status_code == 422 and api.get_json()["field"] == "q"
