"""The demo data set: realistic work sent to a running system (``flask --app wsgi:app taskdeck demo``).

It fills every page with data: every run state and origin, retries, workflows, hostile, huge and
deep values, waiting messages on several queues and priorities, staged and held items, and
schedules of every kind. docs/demo.md lists what it holds. Everything goes through the dashboard's
own services (:mod:`.work`), into the processes ``make run`` starts: a worker, the recorder, and
(optionally) beat and the dispatcher.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from ..core.broker import layout_for, waiting
from ..core.runs import STATES
from ..extensions import db
from ..mount import settings
from ..redis_client import broker_on_dashboard_redis, get_broker, get_celery, get_redis
from . import dataset
from .dataset import BACKFILL, PENDING, REPORTS
from .payloads import SIZES, Size
from .system import (
    ANY_STATE,
    HistoryTimeout,
    System,
    SystemNotReady,
    check_system,
    states_of,
    wait_for_history,
)
from .work import Work

__all__ = ["SIZES", "HistoryTimeout", "Summary", "SystemNotReady", "fill"]

QUEUES = ("celery", REPORTS, BACKFILL)


@dataclass
class Summary:
    """What one demo run created, as the command prints it."""

    size: str
    suffix: str
    hold: float
    states: Counter = field(default_factory=Counter)
    origins: Counter = field(default_factory=Counter)
    retries_of: int = 0
    waiting: dict[str, int] = field(default_factory=dict)
    staged: int = 0
    held: int = 0
    schedules: list[str] = field(default_factory=list)
    running: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        states = ", ".join(f"{state} {self.states[state]}" for state in STATES if self.states[state])
        origins = ", ".join(f"{origin} {count}" for origin, count in sorted(self.origins.items()))
        queues = ", ".join(f"{name} {count}" for name, count in self.waiting.items())
        return [
            f"Demo data set '{self.size}' created (names and ids end in '{self.suffix}'):",
            f"  runs followed: {sum(self.states.values())} ({states})",
            f"  origins: {origins}; {self.retries_of} retry of a failed run",
            f"  waiting messages: {queues} (nobody in `make run` consumes {BACKFILL})",
            f"  staging list: {self.staged} items added, {self.held} held (poison)",
            f"  schedules: {len(self.schedules)} ({', '.join(self.schedules[:6])}"
            + (", ..." if len(self.schedules) > 6 else "")
            + ")",
            f"  still running for about {int(self.hold)} s: {', '.join(self.running)}",
            *(f"  note: {note}" for note in self.notes),
            "Open /history/ (filter by state or origin), /queues/backfill, /staging/ and /schedules/.",
        ]


def fill(
    size: Size,
    *,
    hold: float,
    timeout: float,
    wait: bool = True,
    echo: Callable[[str], None] = print,
) -> Summary:
    """Send the whole data set to the running system (in an app context); see docs/demo.md.

    Raises SystemNotReady (nothing sent) when no worker consumes the default queue or no recorder
    runs, HistoryTimeout when the history did not show a step's runs within ``timeout`` seconds.
    ``hold`` is how long the runs left unfinished (STARTED, PROGRESS, RECEIVED, RETRY) stay so.
    """
    config = settings()
    celery_app, client = get_celery(), get_redis()
    system = check_system(celery_app, client, config["TASKDECK_KEY_PREFIX"], config["INSPECT_TIMEOUT"])
    default = celery_app.conf.task_default_queue or "celery"
    if not system.consumers(default):
        raise SystemNotReady(f"no live worker consumes the '{default}' queue: start `make run` first")
    if not system.recorder:
        raise SystemNotReady("no history recorder is running: start `make run` (its recorder) first")
    same_server = broker_on_dashboard_redis()
    work = Work(
        celery=celery_app,
        client=client,
        broker=client if same_server else get_broker(),
        session=db.session,
        prefix=config["TASKDECK_KEY_PREFIX"],
        max_bytes=config["MAX_PAYLOAD_BYTES"],
        same_server=same_server,
    )
    summary = Summary(size=size.name, suffix=uuid.uuid4().hex[:6], hold=hold)
    summary.notes += _notes(system)
    waiting_expect = ANY_STATE if system.consumers(BACKFILL) else PENDING

    echo(f"schedules ({summary.suffix})")
    dataset.schedules(work, size, summary.suffix)
    echo(f"waiting messages on {BACKFILL}")
    dataset.waiting_messages(work, size, hold, waiting_expect)
    lost_after = float(config.get("HISTORY_LOST_AFTER_SECONDS", 3600.0))
    if waiting_expect == PENDING:
        dataset.discarded_message(work)
        if lost_after > 0:
            dataset.lost_message(work, lost_after)
    echo("staging list")
    dataset.staging_list(work, size, summary.suffix)
    echo("finished work: ordinary, hostile, huge, deep, failing, retried, expired, workflows")
    dataset.finished_work(work, size)
    wait_for_history(work.session, work.expected(), timeout, "the finished work")
    echo("a retry of a failed run, a terminated run")
    dataset.retry_and_terminate(work, hold, timeout)
    echo(f"unfinished work, left so for {int(hold)} s")
    running = dataset.unfinished_work(work, hold, timeout, waiting_expect)
    if wait:
        echo("waiting until the history shows every run in its state")
        promised = [
            state
            for state in STATES
            if (waiting_expect == PENDING or state not in ("PENDING", "RETRY", "DISCARDED", "LOST"))
            and (lost_after > 0 or state != "LOST")
        ]
        wait_for_history(work.session, work.expected(), timeout, "the demo's runs", promised)
    return _summarise(work, summary, running)


def _notes(system: System) -> list[str]:
    notes = []
    if system.consumers(BACKFILL):
        notes.append(f"{', '.join(system.consumers(BACKFILL))} consumes {BACKFILL}: its messages will run")
    if system.concurrency < 2:
        notes.append("the workers have fewer than 2 pool processes: STARTED and PROGRESS cannot both be held")
    if not system.beat:
        notes.append("beat is not running: the enabled schedules fire once it is")
    if not system.dispatcher:
        notes.append("the dispatcher is not running: the staging list stays as the demo left it")
    return notes


def _summarise(work: Work, summary: Summary, running: list[str]) -> Summary:
    states = states_of(work.session, (s.task_id for s in work.sent))
    summary.states = Counter(states.values())
    summary.origins = Counter(s.origin for s in work.sent if s.task_id in states)
    summary.retries_of = sum(1 for s in work.sent if s.label.startswith("retry of"))
    layout = layout_for(work.celery)
    summary.waiting = {queue: waiting(work.broker, layout, queue) for queue in QUEUES}
    summary.staged = len(work.staged)
    summary.held = len(work.held)
    summary.schedules = [f"{s.kind} {'enabled' if s.enabled else 'disabled'} #{s.id}" for s in work.schedules]
    summary.running = running
    return summary
