"""parse_run_request on its own: per-parameter binding, time handling, limits (no broker needed)."""

from datetime import UTC, datetime, timedelta

import pytest
from celery import Celery

from dashboard.core.bounds import InvalidRunOption
from dashboard.core.errors import DashboardError
from dashboard.core.tasks import InvalidArguments
from dashboard.registry import service

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo_app():
    app = Celery("registry-parse", set_as_current=False)
    app.conf.task_default_queue = "celery"

    @app.task(name="t.shapes", shared=False)
    def shapes(a, /, b, *rest, c: int = 1, **extra):
        """Every kind of parameter."""

    @app.task(name="t.simple", shared=False)
    def simple(x, y=2):
        """Two parameters."""

    return app


def parse(app, **data):
    return service.parse_run_request(data, app, max_payload_bytes=1000, now=NOW)


def test_per_parameter_values_become_keyword_arguments(demo_app):
    run = parse(demo_app, task="t.simple", params_json={"x": '"a"', "y": ""})
    assert (run.args, run.kwargs) == ([], {"x": "a"})


def test_positional_only_and_star_args_go_positionally(demo_app):
    run = parse(demo_app, task="t.shapes", params={"a": 1, "b": 2, "rest": [3, 4], "c": 5, "extra": {"d": 6}})
    assert (run.args, run.kwargs) == ([1, 2, 3, 4], {"c": 5, "d": 6})
    run = parse(demo_app, task="t.shapes", params={"a": 1, "b": 2})
    assert (run.args, run.kwargs) == ([1], {"b": 2})


def test_a_gap_before_star_args_is_refused(demo_app):
    with pytest.raises(InvalidArguments) as refused:
        parse(demo_app, task="t.shapes", params={"a": 1, "rest": [3]})
    assert refused.value.field == "params.b"


def test_star_args_must_be_a_list_and_star_star_an_object(demo_app):
    with pytest.raises(InvalidArguments, match="must be a JSON list"):
        parse(demo_app, task="t.shapes", params={"a": 1, "b": 2, "rest": 3})
    with pytest.raises(InvalidArguments, match="must be a JSON object"):
        parse(demo_app, task="t.shapes", params={"a": 1, "b": 2, "extra": [1]})


@pytest.mark.parametrize(
    ("eta", "accepted"),
    [
        ((NOW - timedelta(seconds=59)).isoformat(), True),
        ((NOW - timedelta(seconds=61)).isoformat(), False),
        ("2030-06-01T14:00:00", True),
    ],
)
def test_eta_may_be_at_most_the_grace_in_the_past(demo_app, eta, accepted):
    if accepted:
        assert parse(demo_app, task="t.simple", args=[1], eta=eta).eta.tzinfo is UTC
    else:
        with pytest.raises(InvalidRunOption):
            parse(demo_app, task="t.simple", args=[1], eta=eta)


def test_eta_without_offset_is_read_in_the_given_zone(demo_app):
    run = parse(demo_app, task="t.simple", args=[1], eta="2030-06-01T15:00", timezone="Europe/Athens")
    assert run.eta == datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
    assert run.shown(run.eta) == "2030-06-01 15:00:00 EEST"


def test_numbers_arrive_as_text_from_forms(demo_app):
    run = parse(demo_app, task="t.simple", args="[1]", countdown="2.5", priority="3", expires="60")
    assert (run.countdown, run.priority, run.expires) == (2.5, 3, NOW + timedelta(seconds=60))
    assert run.send_options() == {"countdown": 2.5, "expires": NOW + timedelta(seconds=60), "priority": 3}


def test_blank_values_mean_not_given(demo_app):
    run = parse(
        demo_app, task="t.simple", args="[1]", kwargs="", countdown="", eta=" ", priority="", queue=""
    )
    assert run.send_options() == {}


def test_queue_known_only_to_workers_is_asked_for_lazily(demo_app):
    asked = []

    def worker_queues():
        asked.append(True)
        return ["live-only"]

    run = service.parse_run_request(
        {"task": "t.simple", "args": [1], "queue": "celery"},
        demo_app,
        max_payload_bytes=1000,
        now=NOW,
        worker_queues=worker_queues,
    )
    assert run.queue == "celery" and not asked
    run = service.parse_run_request(
        {"task": "t.simple", "args": [1], "queue": "live-only"},
        demo_app,
        max_payload_bytes=1000,
        now=NOW,
        worker_queues=worker_queues,
    )
    assert run.queue == "live-only" and asked


def test_every_refusal_is_a_dashboard_error_with_a_field(demo_app):
    for data in (
        {"task": "t.simple"},
        {"task": "t.simple", "args": "[1", "kwargs": "{}"},
        {"task": "t.simple", "args": [1], "priority": 3.5},
        {"task": "t.simple", "args": ["x" * 2000]},
    ):
        with pytest.raises(DashboardError) as refused:
            parse(demo_app, **data)
        assert refused.value.field in ("args", "kwargs", "priority")


def test_naive_now_is_a_programming_error(demo_app):
    with pytest.raises(ValueError):
        service.parse_run_request(
            {"task": "t.simple"}, demo_app, max_payload_bytes=10, now=datetime(2030, 1, 1)
        )
