"""How one piece of news about a run (a task event, a result-backend record) changes the run.

Pure functions on plain dataclasses: the recorder, the reconciliation and the tests share them.

State precedence. Within one attempt a run only moves forward:
PENDING < RECEIVED < STARTED < PROGRESS < RETRY < final (SUCCESS, FAILURE, REVOKED).
A final state is never left: a late STARTED, RECEIVED or RETRY only fills fields still empty.
RETRY ends an attempt, and the next attempt legitimately goes "down" to RECEIVED/STARTED again;
that move is accepted only for news timestamped after the RETRY (or carrying a higher
``retries`` count), so a late event of the old attempt never reopens it.

Clocks: hosts disagree. Timestamps are compared only where one clock wrote both (a worker's events
of one attempt); the sender's PENDING never holds back a worker's RECEIVED or STARTED.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime

from ..core.runs import progress_percent
from ..core.text import safe_field, safe_json, safe_text
from . import errors, timeline

VALUE_LIMIT = 65536  # characters kept of args, kwargs, result, exception and traceback
NAME_SIZE = 255  # the String columns: name, worker, queue
ID_SIZE = 64  # parent_id, root_id

RANK = {
    "PENDING": 0,
    "RECEIVED": 1,
    "STARTED": 2,
    "PROGRESS": 3,
    "RETRY": 4,
    "SUCCESS": 5,
    "FAILURE": 5,
    "REVOKED": 5,
    "DISCARDED": 5,  # its message was deleted or purged (dashboard.core.runs.discard)
    "LOST": 5,  # found nowhere long after it was sent (history.lost); any later news moves it on
}
FINAL = frozenset({"SUCCESS", "FAILURE", "REVOKED", "DISCARDED", "LOST"})
UNFINISHED = ("PENDING", "RECEIVED", "STARTED", "PROGRESS", "RETRY")

EVENT_STATES = {
    "task-sent": "PENDING",
    "task-received": "RECEIVED",
    "task-started": "STARTED",
    "task-succeeded": "SUCCESS",
    "task-failed": "FAILURE",
    "task-retried": "RETRY",
    "task-revoked": "REVOKED",
    "task-rejected": "FAILURE",
}


def bounded(value: object, limit: int = VALUE_LIMIT) -> str | None:
    """Storable text of ``value`` (dashboard.core.text): a string as it is, anything else as JSON."""
    if value is None:
        return None
    return safe_text(value, limit) if isinstance(value, str) else safe_json(value, limit)


def storable_json(value: object) -> object:
    """``value`` as data the JSON column always takes: safe_json's text read back, or its cut text."""
    text = safe_json(value)
    if len(text) <= VALUE_LIMIT:
        return json.loads(text)
    return {"info": safe_json(value, VALUE_LIMIT)}


def _at(timestamp: object) -> datetime | None:
    if timestamp in (None, ""):
        return None
    if isinstance(timestamp, datetime):
        return timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=UTC)
    if isinstance(timestamp, str):
        parsed = datetime.fromisoformat(timestamp)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.fromtimestamp(float(timestamp), UTC)


@dataclass
class RunState:
    """The merge-relevant columns of one ``task_runs`` row."""

    task_id: str
    state: str = "PENDING"
    name: str | None = None
    args: str | None = None
    kwargs: str | None = None
    queue: str | None = None
    worker: str | None = None
    retries: int = 0
    sent_at: datetime | None = None
    received_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    runtime: float | None = None
    result: str | None = None
    exception: str | None = None
    traceback: str | None = None
    progress: dict | None = None
    parent_id: str | None = None
    root_id: str | None = None
    group_id: str | None = None
    timeline: dict | None = None
    error_group: str | None = None

    @classmethod
    def from_row(cls, row) -> RunState:
        values = {f.name: getattr(row, f.name) for f in fields(cls)}
        for name in ("sent_at", "received_at", "started_at", "finished_at"):
            values[name] = _at(values[name])
        values["retries"] = values["retries"] or 0
        return cls(**values)

    def as_row(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def state_time(self) -> datetime | None:
        """When the current state was reached, as far as the stored timestamps tell."""
        if self.state in FINAL or self.state == "RETRY":
            return self.finished_at
        if self.state == "PROGRESS":
            return _at((self.progress or {}).get("at")) or self.started_at
        if self.state == "STARTED":
            return self.started_at
        if self.state == "RECEIVED":
            return self.received_at
        return self.sent_at


@dataclass
class RunUpdate:
    """One piece of news about a run: a Celery task event or a result-backend record."""

    task_id: str
    state: str | None
    at: datetime | None
    name: str | None = None
    args: str | None = None
    kwargs: str | None = None
    queue: str | None = None
    worker: str | None = None
    retries: int | None = None
    runtime: float | None = None
    result: str | None = None
    exception: str | None = None
    traceback: str | None = None
    progress: dict | None = None
    parent_id: str | None = None
    root_id: str | None = None
    group_id: str | None = None
    kind: str | None = None  # the timeline's kind of a task event (timeline.EVENT_KINDS)
    eta: str | None = None  # when a delayed or retried message is due, as its event says
    # Values from the result backend are complete (the events carry reprs cut at 1 KiB).
    complete: bool = False
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_event(cls, event: dict) -> RunUpdate | None:
        """The update a Celery task event carries; None for events about no task."""
        kind = event.get("type", "")
        task_id = event.get("uuid")
        if not task_id or kind not in EVENT_STATES:
            return None
        state = EVENT_STATES[kind]
        # The id keeps its length: cut, it would name another run (a too long one is skipped).
        update = cls(task_id=safe_text(task_id), state=state, at=_at(event.get("timestamp")))
        update.kind = timeline.EVENT_KINDS[kind]
        update.eta = safe_field(event.get("eta"), 64)
        update.name = safe_field(event.get("name"), NAME_SIZE)
        update.args = bounded(event.get("args"))
        update.kwargs = bounded(event.get("kwargs"))
        update.queue = safe_field(event.get("queue") or event.get("routing_key"), NAME_SIZE)
        if kind != "task-sent":
            update.worker = safe_field(event.get("hostname"), NAME_SIZE)
        if event.get("retries") is not None:
            update.retries = int(event["retries"])
        update.parent_id = safe_field(event.get("parent_id"), ID_SIZE)
        update.root_id = safe_field(event.get("root_id"), ID_SIZE)
        if kind == "task-succeeded":
            update.result = bounded(event.get("result"))
            if event.get("runtime") is not None:
                update.runtime = float(event["runtime"])
        elif kind in ("task-failed", "task-retried"):
            update.exception = bounded(event.get("exception"))
            update.traceback = bounded(event.get("traceback"))
        elif kind == "task-revoked":
            how = (
                "terminated" if event.get("terminated") else "expired" if event.get("expired") else "revoked"
            )
            signum = event.get("signum")
            update.exception = f"Revoked ({how}{', signal ' + str(signum) if signum else ''})"
        elif kind == "task-rejected":
            if event.get("requeue"):
                update.state = None  # back in the queue: nothing ended
            update.exception = f"Rejected by worker (requeue={bool(event.get('requeue'))})"
        return update

    @classmethod
    def from_backend(cls, task_id: str, meta: dict, seen_at: datetime) -> RunUpdate | None:
        """The update a result-backend record carries (``result_extended`` adds name/args/worker)."""
        status = meta.get("status")
        if status not in RANK or status == "PENDING":
            return None
        # The backend timestamps only ready states; a PROGRESS/STARTED record carries no time, so
        # it may move a run forward within its attempt but never decides between attempts.
        at = (_at(meta.get("date_done")) or seen_at) if status in FINAL else None
        update = cls(task_id=safe_text(task_id), state=status, at=at, complete=True)
        update.name = safe_field(meta.get("name"), NAME_SIZE)
        if meta.get("args") is not None:
            update.args = safe_json(meta["args"], VALUE_LIMIT)
        if meta.get("kwargs") is not None:
            update.kwargs = safe_json(meta["kwargs"], VALUE_LIMIT)
        update.worker = safe_field(meta.get("worker"), NAME_SIZE)
        update.queue = safe_field(meta.get("queue"), NAME_SIZE)
        if meta.get("retries") is not None:
            update.retries = int(meta["retries"])
        update.parent_id = safe_field(meta.get("parent_id"), ID_SIZE)
        update.group_id = safe_field(meta.get("group_id"), ID_SIZE)
        result = meta.get("result")
        if status == "PROGRESS":
            update.progress = {
                "meta": storable_json(result if isinstance(result, dict) else {"info": result})
            }
        elif status in ("FAILURE", "RETRY", "REVOKED") and isinstance(result, dict) and "exc_type" in result:
            message = result.get("exc_message")
            if isinstance(message, list | tuple) and len(message) == 1:
                message = message[0]
            update.exception = bounded(f"{result['exc_type']}({message!r})")
            update.traceback = bounded(meta.get("traceback"))
        elif status == "SUCCESS":
            update.result = safe_json(result, VALUE_LIMIT)
        return update


def accepts(current: RunState, update: RunUpdate) -> bool:
    """True when ``update``'s state should replace ``current``'s (see the module docstring)."""
    if current.state == "LOST" and update.state is not None:
        return True  # an inference, not news: whatever the run's own events say wins
    if update.state is None or current.state in FINAL:
        return False
    if update.state in FINAL:
        return True
    if update.retries is not None and update.retries != current.retries:
        return update.retries > current.retries
    since = current.state_time()
    newer = since is None or (update.at is not None and update.at > since)
    if current.state == "RETRY":
        return newer  # the next attempt, or a later retry
    if update.state == current.state == "PROGRESS":
        return newer or update.at is None
    # Same attempt: only forward, and never on news older than the current state. PENDING's time is
    # the sender's clock, a worker's news the worker's: a worker whose clock is behind the sender's
    # still moves a sent run forward (its own events stay ordered by its own clock).
    older = since is not None and update.at is not None and update.at < since and current.state != "PENDING"
    return RANK[update.state] > RANK[current.state] and not older


def merge(current: RunState | None, update: RunUpdate) -> RunState:
    """The run after ``update``; ``current`` is not modified. Every update is also an entry of
    the run's timeline (its attempts), whether or not it moves the state."""
    attempt = _attempt(current, update)
    run = _merged(current, update)
    item = _timeline_entry(update, attempt)
    if item is not None:
        run.timeline = timeline.add(run.timeline, item)
    run.error_group = errors.group_key(run.exception) if run.state == "FAILURE" else None
    return run


def _attempt(current: RunState | None, update: RunUpdate) -> int:
    """The attempt ``update`` belongs to.

    A message's news (sent, received) carries ``retries``. A worker's other news does not, and
    events from its processes can arrive out of order (a retry's own message is often received
    before the attempt that sent it has told of its end), so, by the worker's own clock: a start
    belongs to the attempt received last before it (the next one if that one has started
    already); a retry or an end to the attempt started last before it.
    """
    if update.retries is not None:
        return update.retries + 1
    fallback = (current.retries if current else 0) + 1
    if current is None or update.at is None or update.kind is None:
        return fallback
    entries = (current.timeline or {}).get("entries", [])
    if update.kind == "started":
        attempt = _last_before(entries, "received", update.at) or fallback
        started = {e.get("n") for e in entries if e.get("k") == "started"}
        while attempt in started:
            attempt += 1
        return attempt
    return _last_before(entries, "started", update.at) or fallback


def _last_before(entries: list, kind: str, at: datetime) -> int | None:
    """The attempt of the latest ``kind`` entry timestamped at or before ``at``."""
    best: tuple[datetime, int] | None = None
    for item in entries:
        if item.get("k") != kind or not isinstance(item.get("n"), int) or not isinstance(item.get("at"), str):
            continue
        when = _at(item["at"])
        if when <= at and (best is None or when >= best[0]):
            best = (when, item["n"])
    return best[1] if best else None


def _timeline_entry(update: RunUpdate, attempt: int) -> dict | None:
    if update.kind == "retried":
        exception, countdown = timeline.retry_details(update.exception)
        item = timeline.entry("retried", attempt, update.at, worker=update.worker, exception=exception)
        if countdown:
            item["in"] = countdown[:32]
        return item
    if update.kind is not None:
        exception = update.exception if update.kind in ("failed", "revoked", "rejected") else None
        return timeline.entry(
            update.kind, attempt, update.at, worker=update.worker, exception=exception, eta=update.eta
        )
    if update.state == "PROGRESS":
        meta = (update.progress or {}).get("meta")
        return timeline.entry("progress", attempt, update.at, percent=progress_percent(meta))
    if update.state in FINAL:  # the result backend told of an end no event brought
        return timeline.entry("ended", attempt, update.at, state=update.state, exception=update.exception)
    return None


def _merged(current: RunState | None, update: RunUpdate) -> RunState:
    run = replace(current) if current is not None else RunState(task_id=update.task_id)
    fresh = current is None
    moves = fresh or accepts(run, update)
    # Descriptive fields: fill what is missing; complete values replace reprs.
    for name in ("name", "args", "kwargs", "queue", "parent_id", "root_id", "group_id"):
        value = getattr(update, name)
        if name == "parent_id" and value == run.task_id:
            continue  # a retry is sent from within the run itself: it is not its own parent
        if value is not None and (getattr(run, name) is None or update.complete):
            setattr(run, name, value)
    if update.worker and (run.worker is None or moves):
        run.worker = update.worker
    if update.retries is not None and update.retries > run.retries:
        run.retries = update.retries
    state = update.state
    at = update.at
    if state == "PENDING":
        if run.sent_at is None or (at is not None and at < run.sent_at):
            run.sent_at = at
    elif state == "RECEIVED" and (moves or run.received_at is None):
        run.received_at = at
    elif state == "STARTED" and (moves or run.started_at is None):
        run.started_at = at
    if not moves:
        # Late news never moves the run, but fills values it lacks.
        for name in ("result", "exception", "traceback"):
            if getattr(run, name) is None and getattr(update, name) is not None and state in FINAL:
                setattr(run, name, getattr(update, name))
        if state in FINAL and run.state == state and update.complete:
            run.result = update.result or run.result
            run.exception = update.exception or run.exception
            run.traceback = update.traceback or run.traceback
        return run
    if run.state == "RETRY" and state not in FINAL and state != "RETRY":
        run.finished_at = None  # a new attempt has begun
        run.runtime = None
    run.state = state
    if state == "PROGRESS":
        run.progress = {**(update.progress or {}), "at": at.isoformat() if at else None}
    if state in FINAL or state == "RETRY":
        run.finished_at = at
        if update.runtime is not None:
            run.runtime = update.runtime
        elif run.started_at and at:
            run.runtime = max(0.0, (at - run.started_at).total_seconds())
        if state in FINAL:
            run.result = update.result if update.result is not None else run.result
        run.exception = update.exception if update.exception is not None else run.exception
        run.traceback = update.traceback if update.traceback is not None else run.traceback
        if state == "SUCCESS":
            run.exception = run.traceback = None
    return run
