"""What the demo needs of the running system, and waiting until the history shows its work."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import redis
from celery import Celery
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import heartbeat
from ..core.runs import STATES, TaskRun

POLL_SECONDS = 0.25
CHUNK = 500  # task ids per query (SQLite's parameter limit is far above it)
ANY_STATE = frozenset(STATES)


class SystemNotReady(Exception):
    """The running system lacks a process the demo needs (a worker, the recorder)."""


class HistoryTimeout(Exception):
    """The history did not show what the demo waited for within the time allowed."""

    def __init__(self, what: str, missing: list[str]):
        super().__init__(f"{what}: still waiting for {len(missing)} runs; " + "; ".join(missing[:8]))
        self.missing = missing


@dataclass(frozen=True)
class System:
    """The processes the demo found: live workers (with the queues they consume) and heartbeats."""

    workers: Mapping[str, tuple[str, ...]]
    concurrency: int  # pool processes of the workers consuming the default queue
    recorder: bool
    dispatcher: bool
    beat: bool

    def consumers(self, queue: str) -> list[str]:
        return sorted(host for host, queues in self.workers.items() if queue in queues)


def check_system(celery_app: Celery, client: redis.Redis, prefix: str, timeout: float) -> System:
    """Ask the workers which queues they consume and read the processes' heartbeats."""
    client.ping()
    replies = celery_app.control.inspect(timeout=timeout).active_queues() or {}
    workers = {
        host: tuple(sorted(q.get("name", "") for q in queues or ())) for host, queues in replies.items()
    }
    default = celery_app.conf.task_default_queue or "celery"
    consumers = [host for host, queues in workers.items() if default in queues]
    stats = celery_app.control.inspect(timeout=timeout, destination=consumers).stats() if consumers else {}
    concurrency = sum(
        int(((stats or {}).get(host) or {}).get("pool", {}).get("max-concurrency") or 0) for host in consumers
    )

    def running(kind: str) -> bool:
        return bool(heartbeat.alive(client, prefix, kind))

    recorder = any(b.info.get("active") for b in heartbeat.alive(client, prefix, "recorder"))
    return System(workers, concurrency, recorder, running("dispatcher"), running("beat"))


def states_of(session: Session, task_ids: Iterable[str]) -> dict[str, str]:
    """The recorded state of each of ``task_ids`` (absent: not in the history yet)."""
    session.rollback()  # a fresh read: the recorder writes from another process
    ids = list(dict.fromkeys(task_ids))
    states: dict[str, str] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        rows = session.execute(select(TaskRun.task_id, TaskRun.state).where(TaskRun.task_id.in_(chunk)))
        states.update({task_id: state for task_id, state in rows})
    return states


def unmet(
    session: Session,
    expected: Mapping[str, tuple[str, frozenset[str]]],
    promised: Iterable[str] = (),
) -> list[str]:
    """What is not (yet) true of ``expected`` (task id -> (label, states it should be in)), and
    which of the ``promised`` states no run of them is in."""
    states = states_of(session, expected)
    missing = []
    for task_id, (label, wanted) in expected.items():
        state = states.get(task_id)
        if state not in wanted:
            want = "any state" if wanted == ANY_STATE else "/".join(sorted(wanted))
            missing.append(f"{label} {task_id} is {state or 'not recorded'}, expected {want}")
    missing += [f"no run is {state} yet" for state in promised if state not in states.values()]
    return missing


def wait_for_history(
    session: Session,
    expected: Mapping[str, tuple[str, frozenset[str]]],
    timeout: float,
    what: str,
    promised: Iterable[str] = (),
) -> None:
    """Return once every run of ``expected`` is recorded in one of its states and every
    ``promised`` state is shown by one of them; HistoryTimeout otherwise."""
    promised = tuple(promised)
    deadline = time.monotonic() + timeout
    while missing := unmet(session, expected, promised):
        if time.monotonic() >= deadline:
            raise HistoryTimeout(what, missing)
        time.sleep(POLL_SECONDS)
