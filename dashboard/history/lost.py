"""Runs that will never run: marked LOST by the recorder's reconciliation (docs/history.md).

A run is lost when it is still PENDING :data:`LOST_AFTER` after it was sent (the setting
``HISTORY_LOST_AFTER_SECONDS``; 0 turns this off) and it is

- in no queue: not in any list of the queues the app configures or any sender declared on the
  broker (kombu's bindings; every priority step), nor among the messages the broker holds for a
  worker (the ``unacked`` hash);
- in no worker's hands: not active, reserved or scheduled (an ETA) on any worker, and every
  worker seen lately answered, so a busy worker that did not reply keeps its runs;
- not waiting in a staging list (a message moved there from its queue keeps its id);
- unknown to the result backend (reconciliation has just read it for every unfinished run).

Anything uncertain marks nothing: a broker that is not Redis, a queue longer than
:data:`SCAN_LIMIT` messages, a worker seen in the last :data:`SEEN_WITHIN` seconds that did not
answer. A lost run is final for the pages (it stops polling) but not for the history: any later
news of it (a worker receiving it after all) moves it on (``merge.accepts``).
"""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta

import redis
from celery import Celery
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..core import broker, broker_layout, inspect
from ..core.runs import TaskRun
from ..timeutil import utcnow

log = logging.getLogger(__name__)

LOST = "LOST"
LOST_AFTER = 3600.0
BATCH = 500  # candidates looked at per pass
SCAN_LIMIT = 10_000  # messages read per queue (a few MB); a longer queue marks nothing this pass
SEEN_WITHIN = 300.0
INSPECT_TIMEOUT = 2.0
# The task id in a kombu message's headers (its body is base64): ``"id": "<task id>"``.
_MESSAGE_ID = re.compile(rb'"id": "([^"]{1,64})"')


def candidates(session: Session, lost_after: float) -> list[str]:
    """PENDING runs sent more than ``lost_after`` seconds ago, oldest first (at most BATCH)."""
    cutoff = utcnow() - timedelta(seconds=lost_after)
    sent = func.coalesce(TaskRun.sent_at, TaskRun.created_at)
    query = select(TaskRun.task_id).where(TaskRun.state == "PENDING", sent < cutoff).order_by(TaskRun.seq)
    return list(session.scalars(query.limit(BATCH)))


def in_queues(client: redis.Redis, celery_app: Celery, queues: list[str], ids: set[str]) -> set[str] | None:
    """The ``ids`` whose message waits in a queue or is held for a worker; None when unsure."""
    layout = broker_layout.layout_for(celery_app)
    found: set[str] = set()
    wanted = {task_id.encode() for task_id in ids}

    def look(raw: bytes) -> None:  # one regular expression per message, whatever the candidates
        found.update(m.decode() for m in _MESSAGE_ID.findall(raw) if m in wanted)

    for queue in queues:
        for key in broker_layout.queue_keys(layout, queue):
            if client.llen(key) > SCAN_LIMIT:
                log.info("recorder: queue %s is too long to look for lost runs in", queue)
                return None
            for start in range(0, SCAN_LIMIT, 1000):
                chunk = client.lrange(key, start, start + 999)
                for raw in chunk:
                    look(raw)
                if len(chunk) < 1000:
                    break
    for _field, raw in client.hscan_iter(layout.unacked, count=1000):
        look(raw)
    return found


def staged(client: redis.Redis, prefix: str, ids: set[str]) -> set[str]:
    """The ``ids`` that are items of a staging list, or held aside by its dispatcher: a message
    moved from a queue to staging keeps its id, and runs under it once released."""
    ordered, found = sorted(ids), set()
    for part in ("items", "held"):
        for key in client.scan_iter(match=f"{prefix}staging:*:{part}", count=100):
            if client.type(key) != b"hash":
                continue
            values = client.hmget(key, ordered)
            found.update(task_id for task_id, value in zip(ordered, values, strict=True) if value is not None)
    return found


def in_workers(client: redis.Redis, prefix: str, celery_app: Celery, ids: set[str]) -> set[str] | None:
    """The ``ids`` a worker holds (active, reserved, scheduled); None when a worker seen lately
    did not answer all three."""
    control = celery_app.control.inspect(timeout=INSPECT_TIMEOUT)
    replies = {kind: getattr(control, kind)() or {} for kind in ("active", "reserved", "scheduled")}
    answered = set.intersection(*(set(reply) for reply in replies.values()))
    now = time.time()
    expected = {host for host, at in inspect.last_seen(client, prefix).items() if now - at < SEEN_WITHIN}
    if expected - answered:
        return None
    held: set[str] = set()
    for reply in replies.values():
        for requests in reply.values():
            for request in requests or []:
                request = request.get("request", request) if isinstance(request, dict) else {}
                if request.get("id") in ids:
                    held.add(request["id"])
    return held


def mark_lost(
    session: Session, redis_client: redis.Redis, prefix: str, celery_app: Celery, lost_after: float
) -> int:
    """One pass: mark the candidates found nowhere LOST; returns how many were marked."""
    if lost_after <= 0:
        return 0
    ids = set(candidates(session, lost_after))
    session.rollback()
    if not ids:
        return 0
    try:
        client = broker.broker_for(celery_app)
        # Every queue a message may wait in: configured, or declared on the broker by any sender.
        bound = broker_layout.bindings(client, broker_layout.layout_for(celery_app))
        queues = sorted(set(broker.known_queues(celery_app)) | set(bound))
        waiting = in_queues(client, celery_app, queues, ids)
        held = in_workers(redis_client, prefix, celery_app, ids) if waiting is not None else None
        if held is not None:
            held |= staged(redis_client, prefix, ids)
    except Exception as error:  # a broker that is not Redis, or away: nothing is marked
        log.warning("recorder: could not look for lost runs: %s", error)
        return 0
    if waiting is None or held is None:
        return 0
    lost = sorted(ids - waiting - held)
    if not lost:
        return 0
    now = utcnow()
    reason = (
        f"Lost: still PENDING {int(lost_after)} s after it was sent, and in no queue, no worker's hands"
        " and no result backend (reconciliation)"
    )
    result = session.execute(
        update(TaskRun)
        .where(TaskRun.task_id.in_(lost), TaskRun.state == "PENDING")
        .values(state=LOST, exception=reason, finished_at=now, updated_at=now)
    )
    session.commit()
    if result.rowcount:
        log.warning("recorder: marked %d run(s) lost", result.rowcount)
    return result.rowcount
