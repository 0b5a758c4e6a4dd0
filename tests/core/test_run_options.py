"""The run model on its own: bounds, time zones, JSON arguments (no broker, no app; zones without DST)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from celery import Celery

from dashboard.core import bounds
from dashboard.core.errors import DashboardError
from dashboard.core.json_text import MAX_JSON_DEPTH, decode_json
from dashboard.core.run_options import Run, queue_checker, validate_run
from dashboard.core.tasks import require_task

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo_app():
    app = Celery("run-options", set_as_current=False)
    app.conf.task_default_queue = "celery"
    app.conf.task_queues = ()

    @app.task(name="t.pair", shared=False)
    def pair(x, y=2):
        """Two parameters."""

    return app


def run(app, consumed=(), **data) -> Run:
    return validate_run(
        {"task": "t.pair", "args": [1], **data},
        task=require_task(app, "t.pair"),
        now=NOW,
        max_payload_bytes=1000,
        queue_known=queue_checker(app, consumed),
    )


def refused(app, consumed=(), **data) -> DashboardError:
    with pytest.raises(DashboardError) as caught:
        run(app, consumed, **data)
    return caught.value


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_countdown_and_relative_expiry_reach_ten_years_and_no_further(demo_app):
    limit = bounds.MAX_DELAY_SECONDS
    assert run(demo_app, countdown=limit).countdown == limit
    assert refused(demo_app, countdown=limit + 1).field == "countdown"
    assert run(demo_app, expires=str(limit)).expires_after == limit
    assert refused(demo_app, expires=limit + 0.5).field == "expires"
    assert refused(demo_app, countdown=10**400).field == "countdown"  # too large for a float, refused


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "-inf", "NaN", True, "soon", -0.5])
def test_a_countdown_is_a_finite_non_negative_number(demo_app, value):
    assert refused(demo_app, countdown=value).field == "countdown"


@pytest.mark.parametrize(("value", "expected"), [(0, 0), ("9", 9), (3.0, 3), (" 4 ", 4)])
def test_priority_takes_whole_numbers_from_0_to_9(demo_app, value, expected):
    assert run(demo_app, priority=value).priority == expected


@pytest.mark.parametrize("value", [10, -1, 255, 1.5, True, "x", float("nan"), [1]])
def test_priority_refuses_anything_else(demo_app, value):
    assert refused(demo_app, priority=value).field == "priority"


def test_a_wall_time_is_read_in_the_zone_and_kept_in_utc(demo_app):
    given = run(demo_app, eta="2030-06-01T18:30:00", timezone="Asia/Kolkata")  # UTC+05:30, no DST
    assert given.eta == datetime(2030, 6, 1, 13, 0, tzinfo=UTC)
    assert given.timezone == "Asia/Kolkata" and given.shown(given.eta) == "2030-06-01 18:30:00 IST"
    with_offset = run(demo_app, eta="2030-06-01T13:00:00-03:00", timezone="Asia/Kolkata")
    assert with_offset.eta == datetime(2030, 6, 1, 16, 0, tzinfo=UTC)


def test_instants_stay_a_day_inside_what_datetime_holds_in_every_zone(demo_app):
    assert run(demo_app, expires=bounds.LATEST.isoformat()).expires == bounds.LATEST
    latest_plus = (bounds.LATEST + timedelta(microseconds=1)).isoformat()
    for data in (
        {"expires": latest_plus},
        {"eta": "9999-12-31T23:59:59", "timezone": "America/Bogota"},  # UTC-5: past datetime.max in UTC
        {"eta": "9999-12-31T23:59:59+00:00"},
        {"eta": "0001-01-01T01:00:00+05:00"},  # before datetime.min in UTC
    ):
        option = next(iter(data))
        assert refused(demo_app, **data).field == option


@pytest.mark.parametrize("name", ["Europe", "", "../x", "\x00", "Nowhere/City", "UTC/../Europe", 5])
def test_a_time_zone_is_a_name_in_the_tz_database(name):
    with pytest.raises(bounds.InvalidRunOption) as caught:
        bounds.time_zone(name)
    assert caught.value.field == "timezone" and "\x00" not in caught.value.message


def test_a_blank_zone_is_utc_and_names_are_trimmed(demo_app):
    assert run(demo_app, timezone=" ").timezone == "UTC"
    assert run(demo_app, timezone=" Asia/Tokyo ").timezone == "Asia/Tokyo"


def test_an_eta_and_a_countdown_together_or_an_expiry_before_the_start_are_refused(demo_app):
    assert refused(demo_app, countdown=5, eta="2030-06-02T00:00:00Z").field == "countdown"
    assert refused(demo_app, countdown=600, expires=60).field == "expires"
    assert refused(demo_app, expires=-1).field == "expires"
    assert refused(demo_app, eta="2030-06-01T11:58:00Z").field == "eta"  # past the 60 s grace


def test_without_time_checks_a_passed_eta_is_kept(demo_app):
    kept = validate_run(
        {"task": "t.pair", "args": [1], "eta": "2001-01-01T00:00:00Z", "expires": "2001-01-02T00:00:00Z"},
        task=None,
        now=NOW,
        max_payload_bytes=1000,
        queue_known=lambda name: False,
        check_times=False,
    )
    assert kept.eta == datetime(2001, 1, 1, tzinfo=UTC)


def test_a_queue_must_be_configured_or_consumed_and_workers_are_asked_only_when_needed(demo_app):
    asked = []

    def consumed():
        asked.append(True)
        return ["live-only"]

    assert run(demo_app, consumed, queue="celery").queue == "celery" and not asked
    assert run(demo_app, consumed, queue=" live-only ").queue == "live-only" and asked
    assert run(demo_app, queue="").queue is None  # blank: Celery's routing decides
    for name in ("nowhere", "bad\nname", "x" * 256, 7):
        assert refused(demo_app, consumed, queue=name).field == "queue"


def test_arguments_are_json_bounded_in_depth_and_size(demo_app):
    assert run(demo_app, args=[nested(MAX_JSON_DEPTH - 1)]).args == [nested(MAX_JSON_DEPTH - 1)]
    assert refused(demo_app, args=[nested(MAX_JSON_DEPTH)]).field == "args"
    assert refused(demo_app, args=[nested(100_000)]).field == "args"  # a loop, not recursion
    assert refused(demo_app, args="[1, NaN]").field == "args"
    assert refused(demo_app, kwargs={"y": {1: "key not text"}}).field == "kwargs"
    assert refused(demo_app, args=[{1, 2}]).field == "args"
    assert refused(demo_app, args=["x" * 2000]).field == "args"  # over max_payload_bytes
    assert run(demo_app, args="[1]", kwargs='{"y": 3}').kwargs == {"y": 3}
    assert refused(demo_app, args=[1], kwargs={"z": 1}).field == "args"  # does not bind to t.pair


def test_an_unknown_option_is_named():
    with pytest.raises(DashboardError) as caught:
        validate_run(
            {"task": "t", "colour": "red"}, task=None, now=NOW, max_payload_bytes=10, queue_known=bool
        )
    assert caught.value.field == "colour" and "unknown option 'colour'" in caught.value.english


def test_staged_options_keep_relative_times_relative_and_instants_in_utc(demo_app):
    staged = run(demo_app, countdown="30", expires=120, priority=4).staged_options()
    assert staged == {"countdown": 30.0, "expires": 120.0, "priority": 4}
    at = run(demo_app, eta="2030-06-01T18:30:00", timezone="Asia/Kolkata", expires="2030-06-02T00:00:00Z")
    assert at.staged_options() == {"eta": "2030-06-01T13:00:00+00:00", "expires": "2030-06-02T00:00:00+00:00"}


def test_a_schedule_expiry_is_whole_seconds_named_as_schedules_call_it(demo_app):
    def expiry(value):
        return validate_run(
            {"task": "t.pair", "args": [1], "expires": value},
            task=None,
            now=NOW,
            max_payload_bytes=1000,
            queue_known=bool,
            names={"expires": "expires_seconds"},
            seconds_only_expiry=True,
        ).expires

    assert expiry("60") == 60
    for value in (1.5, 0, "9999-12-31T23:59:59", 10**19):
        with pytest.raises(DashboardError) as caught:
            expiry(value)
        assert caught.value.field == "expires_seconds"


def test_the_decoder_is_strict_and_names_the_member_nested_too_deep():
    for text in ("[NaN]", "[Infinity]", "[1e400]", "[1, 2"):
        with pytest.raises(DashboardError) as caught:
            decode_json(text, "args")
        assert caught.value.field == "args"
    deep = "[" * 1000 + "]" * 1000
    body = '{"note": "[[[[", "args": ' + deep + "}"
    for text, members in ((body, 1), (f"[{body}]", 2)):
        with pytest.raises(DashboardError) as caught:
            decode_json(text, "body", members=members)
        assert caught.value.field == "args"
    assert decode_json('{"countdown": Infinity}', "body", members=1) == {"countdown": float("inf")}
    assert decode_json('["[[[[[", "\\"]]"]', "args") == ["[[[[[", '"]]']
