"""``/metrics`` in Prometheus text format, computed at scrape time from Redis and SQL.

Nothing is counted in process memory, so every gunicorn worker and host gives the same answer.
Worker counts come from the shared inspect cache, so scrapes add no broadcasts of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import redis
from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import heartbeat
from .core.beat import beat_status
from .core.broker import layout_for
from .core.errors import DashboardError
from .core.inspect import inspect_cached
from .core.runs import TaskRun
from .extensions import db
from .history import keys as history_keys
from .mount import settings
from .queues import service as queues
from .redis_client import get_broker, get_celery, get_redis
from .staging import service as staging
from .timeutil import utcnow

bp = Blueprint("metrics", __name__)


class DashboardCollector:
    """Reads the current state once per scrape."""

    def __init__(
        self,
        client: redis.Redis,
        session: Session,
        celery_app,
        prefix: str,
        timeout: float,
        broker: redis.Redis | None = None,
    ):
        self.client, self.session, self.celery_app = client, session, celery_app
        self.prefix, self.timeout = prefix, timeout
        self.broker = broker  # the broker's Redis, often the same client; None when it is not Redis

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "taskdeck_dependency_up", "1 when the dependency answers", labels=["dependency"]
        )
        try:
            self.client.ping()
            redis_up = True
        except redis.RedisError:
            redis_up = False
        up.add_metric(["redis"], 1 if redis_up else 0)
        try:
            self.session.execute(select(1))
            up.add_metric(["database"], 1)
            yield from self._runs()
        except Exception:  # any driver error: report the database down, keep the rest
            self.session.rollback()
            up.add_metric(["database"], 0)
        yield up
        if redis_up:
            yield from self._redis_side()

    def _runs(self) -> Iterator[GaugeMetricFamily]:
        runs = GaugeMetricFamily("taskdeck_runs", "Runs in the history, by state", labels=["state"])
        for state, count in self.session.execute(select(TaskRun.state, func.count()).group_by(TaskRun.state)):
            runs.add_metric([state], count)
        yield runs
        hour_ago = utcnow() - timedelta(hours=1)
        failed = self.session.scalar(
            select(func.count()).where(TaskRun.state == "FAILURE", TaskRun.finished_at >= hour_ago)
        )
        yield GaugeMetricFamily(
            "taskdeck_runs_failed_last_hour", "Runs that failed in the last hour", value=failed
        )

    def _queues(self, active_queues: dict[str, list]) -> Iterator[GaugeMetricFamily]:
        """Depth per queue and priority step, read from the broker in its own key layout."""
        if self.broker is None:
            return  # not a Redis broker: nothing to count
        try:
            layout = layout_for(self.celery_app)
            summaries = queues.list_queues(self.broker, layout, self.celery_app, active_queues)
        except redis.RedisError:
            return  # a broker apart from the dashboard's Redis may be away on its own
        depth = GaugeMetricFamily("taskdeck_queue_messages", "Messages waiting", labels=["queue", "priority"])
        consumers = GaugeMetricFamily("taskdeck_queue_consumers", "Workers consuming", labels=["queue"])
        for summary in summaries:
            for step, length in summary.lengths.items():
                depth.add_metric([summary.name, str(step)], length)
            consumers.add_metric([summary.name], len(summary.consumers))
        yield depth
        yield consumers

    def _redis_side(self) -> Iterator[GaugeMetricFamily]:
        active = inspect_cached(
            self.client, self.prefix, self.celery_app, "active_queues", timeout=self.timeout, max_age=10
        )
        yield GaugeMetricFamily(
            "taskdeck_workers_answering", "Workers in the last inspect reply", value=len(active.replies)
        )
        yield from self._queues(active.replies)
        yield GaugeMetricFamily(
            "taskdeck_staged_items",
            "Items in the staging list",
            value=staging.staged_count(self.client, self.prefix),
        )
        policy = staging.get_policy(self.client, self.prefix)
        yield GaugeMetricFamily(
            "taskdeck_dispatch_running",
            "1 when the dispatcher policy is running",
            value=int(policy.state == "running"),
        )
        alive = GaugeMetricFamily(
            "taskdeck_process_alive", "Instances with a live heartbeat", labels=["process"]
        )
        for kind in heartbeat.KINDS:
            alive.add_metric([kind], len(heartbeat.alive(self.client, self.prefix, kind)))
        yield alive
        skipped = self.client.hget(history_keys.skipped_records(self.prefix), "count")
        yield GaugeMetricFamily(
            "taskdeck_history_skipped_records",
            "Run updates the recorder could not store and skipped (a count that only grows)",
            value=int(skipped or 0),
        )
        beat = beat_status(self.client, self.prefix)
        yield GaugeMetricFamily(
            "taskdeck_beat_lock_held",
            "1 when a beat holds the scheduling lock",
            value=int(beat.holder is not None),
        )
        yield GaugeMetricFamily(
            "taskdeck_beat_unconfirmed_runs",
            "Runs the active beat claimed and the broker has not accepted yet (sent again each tick)",
            value=beat.unconfirmed,
        )


@bp.get("/metrics")
def metrics() -> Response:
    registry = CollectorRegistry(auto_describe=False)
    config = settings()
    try:
        broker = get_broker()
    except DashboardError:
        broker = None
    registry.register(
        DashboardCollector(
            get_redis(),
            db.session,
            get_celery(),
            config["TASKDECK_KEY_PREFIX"],
            config["INSPECT_TIMEOUT"],
            broker=broker,
        )
    )
    response = Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response
