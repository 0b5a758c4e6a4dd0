"""The recorder process: Celery task events in, history rows out, in batches.

Run it with ``flask --app wsgi:app taskdeck record``. One recorder is active at a time (a Redis
lock); others stand by and take over within the lock's TTL.

- Events are merged per task id (``merge.merge``: state precedence plus timestamps) and written
  with one upsert per batch: every ``HISTORY_BATCH_SIZE`` events or ``HISTORY_FLUSH_SECONDS``.
- PROGRESS: Celery sends no event for custom states, so every ``HISTORY_PROGRESS_SECONDS`` the
  recorder reads the result backend of runs that are STARTED or PROGRESS.
- Final values: events carry reprs cut at 1 KiB; when a run finishes, the recorder reads its
  backend record (``result_extended``) for the complete result, traceback and arguments.
- Reconciliation: at start and periodically, runs left unfinished are completed from the result
  backend; with a Redis backend, results of runs never heard of (sent and finished while the
  recorder was down) are added too.
- Origins: senders that push from a Lua script (staging releases, beat) leave an origin entry in
  Redis in the same step (``core.origins``); the recorder folds them in batches at least every
  ``HISTORY_FLUSH_SECONDS`` (``store.fold_origins``: idempotent, removed once committed). An
  entry that cannot be read or stored, or that a full list dropped, is counted as skipped.
- Retention: runs older than ``HISTORY_RETENTION_DAYS`` are deleted in batches, hourly.
- Unstorable records: a batch that fails is tried once more, then update by update; an update
  that still fails is set aside, logged and counted in Redis (``keys.skipped_records``), so one
  bad record never holds up the ones after it. While the database itself is away (connection
  errors), nothing is set aside: the batch waits for the next flush.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable, Iterable

import redis
from flask import Flask

from .. import heartbeat, mount
from ..core import origins
from ..core.text import safe_field, safe_text
from ..extensions import db
from ..redis_client import get_celery, get_redis
from ..timeutil import utcnow
from . import keys, lost, store, workflow
from .backend import fetch_metas, scan_backend_ids
from .merge import FINAL, RunUpdate
from .store import database_away

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0
LOCK_TTL_SECONDS = 10.0
SKIP_REASON_LIMIT = 500  # characters of the error kept per skipped update
SKIPPED_RECENT = 20  # skipped updates listed in Redis
SET_ASIDE_LIMIT = 10_000  # run ids this process no longer re-reads from the backend


def note_skipped(client: redis.Redis, prefix: str, task_id: str, reason: str, count: int = 1) -> None:
    """Count skipped updates in Redis and list the last one among the last ones (one MULTI/EXEC)."""
    at = utcnow().isoformat()
    task_id = safe_field(task_id, 200) or ""
    reason = safe_text(reason, SKIP_REASON_LIMIT)
    pipe = client.pipeline(transaction=True)
    pipe.hincrby(keys.skipped_records(prefix), "count", count)
    pipe.hset(
        keys.skipped_records(prefix), mapping={"last_task_id": task_id, "last_reason": reason, "last_at": at}
    )
    pipe.lpush(keys.skipped_recent(prefix), json.dumps({"task_id": task_id, "reason": reason, "at": at}))
    pipe.ltrim(keys.skipped_recent(prefix), 0, SKIPPED_RECENT - 1)
    pipe.execute()


class Recorder:
    """Batches events into the history table; also polls progress, reconciles and prunes."""

    def __init__(self, app: Flask):
        config = mount.first(app).config
        self.app = app
        self.prefix = config["TASKDECK_KEY_PREFIX"]
        self.batch_size = int(config.get("HISTORY_BATCH_SIZE", 1000))
        self.flush_seconds = float(config.get("HISTORY_FLUSH_SECONDS", 0.2))
        self.progress_seconds = float(config.get("HISTORY_PROGRESS_SECONDS", 1.0))
        self.reconcile_seconds = float(config.get("HISTORY_RECONCILE_SECONDS", 30.0))
        self.lost_after = float(config.get("HISTORY_LOST_AFTER_SECONDS", lost.LOST_AFTER))
        self.full_scan_seconds = float(config.get("HISTORY_FULL_SCAN_SECONDS", 600.0))
        self.retention_days = float(config.get("HISTORY_RETENTION_DAYS", 30))
        self.fetch_final_values = True
        self.pending: list[RunUpdate] = []
        self.first_pending_at = 0.0
        self.events = 0
        self.written = 0
        self.skipped = 0
        self.origins = 0  # origin entries folded
        self.origin_batch = store.ORIGIN_BATCH
        self.set_aside: dict[str, None] = {}  # ids skipped here: reconciliation leaves them be
        self.owner = heartbeat.instance_id()
        self.lock = keys.recorder_leader(mount.first(app).redis, self.prefix, self.owner, LOCK_TTL_SECONDS)
        self._due: dict[str, float] = {}

    # -- the batching path (also driven directly by the benchmark and the tests)

    def handle(self, event: dict) -> None:
        """Take one Celery event; flushes when the batch is full."""
        self.events += 1
        try:
            update = RunUpdate.from_event(event)
        except Exception as error:  # e.g. retries or a timestamp that is no number
            self._skip(str(event.get("uuid", "?")), error)
            return
        if update is None:
            return
        if not self.pending:
            self.first_pending_at = time.monotonic()
        self.pending.append(update)
        if len(self.pending) >= self.batch_size:
            self.flush()

    def flush(self) -> int:
        """Write the pending batch (one transaction); returns the rows written."""
        if not self.pending:
            return 0
        updates, self.pending = self.pending, []
        if self.fetch_final_values:
            finished = [u.task_id for u in updates if u.state in FINAL]
            if finished:
                try:
                    metas = fetch_metas(get_celery().backend, dict.fromkeys(finished))
                except Exception as exc:  # backend away: the event values are kept
                    log.warning("could not read final values from the result backend: %s", exc)
                    metas = {}
                updates.extend(self._backend_updates(metas))
        written = self.store(updates)
        self.written += written
        self._revoke_late_steps(updates)
        return written

    def _revoke_late_steps(self, updates: list[RunUpdate]) -> None:
        """Steps of workflows an operator revoked, sent since (``workflow.revoke_late_steps``)."""
        try:
            late = workflow.revoke_late_steps(get_redis(), self.prefix, get_celery(), updates)
        except Exception as error:  # Redis or the broker away: the next sighting tries again
            log.warning("recorder: could not check for steps of revoked workflows: %s", error)
            return
        if late:
            log.info("recorder: revoked %d step(s) of revoked workflows", len(late))

    def store(self, updates: list[RunUpdate]) -> int:
        """Write ``updates``: as one batch, tried twice, then one by one, setting aside what fails.

        When the database is away the updates go back to ``pending`` and the error is raised.
        """
        for attempt in (1, 2):
            try:
                return store.apply_updates(db.session, updates)
            except Exception as error:
                db.session.rollback()
                if database_away(error):
                    self.pending = updates + self.pending  # try again at the next flush
                    raise
                log.warning(
                    "recorder: a batch of %s updates failed (try %s): %s",
                    len(updates),
                    attempt,
                    safe_text(str(error), SKIP_REASON_LIMIT),
                )
        written = 0
        for index, update in enumerate(updates):
            try:
                written += store.apply_updates(db.session, [update])
            except Exception as error:
                db.session.rollback()
                if database_away(error):
                    self.pending = updates[index:] + self.pending
                    raise
                self._skip(update.task_id, error)
        return written

    def _skip(self, task_id: str, error: BaseException, entry: bytes | str | None = None) -> None:
        """Set an update (or an origin ``entry``) aside: logged, counted, never retried here."""
        cause = getattr(error, "orig", None) or error  # the driver's words, without SQL and parameters
        reason = safe_text(f"{type(cause).__name__}: {cause}", SKIP_REASON_LIMIT)
        self.skipped += 1
        if entry is None:  # a bad origin entry says nothing of the run's backend record
            self.set_aside[task_id] = None
            while len(self.set_aside) > SET_ASIDE_LIMIT:
                del self.set_aside[next(iter(self.set_aside))]
        log.error(
            "recorder: skipped an update of run %s it cannot store: %s", safe_field(task_id, 200), reason
        )
        try:
            if entry is not None:
                origins.set_aside(get_redis(), self.prefix, entry, reason, utcnow().isoformat())
            note_skipped(get_redis(), self.prefix, task_id, reason)
        except redis.RedisError as redis_error:  # the count is lost, the log line above stays
            log.warning("recorder: could not count the skipped update: %s", redis_error)

    def _backend_updates(self, metas: dict[str, dict]) -> list[RunUpdate]:
        now = utcnow()
        updates = []
        for task_id, meta in metas.items():
            try:
                update = RunUpdate.from_backend(task_id, meta, now)
            except Exception as error:  # a record no update can be made of
                self._skip(task_id, error)
                continue
            if update is not None:
                updates.append(update)
        return updates

    def flush_due(self) -> None:
        if self.pending and time.monotonic() - self.first_pending_at >= self.flush_seconds:
            self.flush()

    # -- folding the origin entries (core.origins)

    def fold_due(self) -> None:
        """Fold origin entries: again at once while a backlog remains, else every flush_seconds."""
        now = time.monotonic()
        if now < self._due.get("origins", 0.0):
            return
        try:
            folded = store.fold_origins(db.session, get_redis(), self.prefix, self.origin_batch, self._skip)
        except Exception:  # the database or Redis away: the entries wait in Redis
            db.session.rollback()
            log.exception("recorder: folding origin entries failed")
            self._due["origins"] = now + max(1.0, self.flush_seconds)
            return
        self.origins += folded
        backlog = folded >= self.origin_batch * store.ORIGIN_BATCHES_PER_CALL
        self._due["origins"] = now if backlog else now + self.flush_seconds

    def count_dropped_origins(self) -> None:
        """Entries a full origins list turned away have no row: count them as skipped records."""
        dropped = origins.take_dropped(get_redis(), self.prefix)
        if dropped:
            reason = f"{dropped} origin entries dropped: the list held {origins.MAX_ENTRIES}"
            log.error("recorder: %s", reason)
            self.skipped += dropped
            note_skipped(get_redis(), self.prefix, "origins", reason, count=dropped)

    # -- reading the result backend

    def _apply_backend(self, task_ids: Iterable[str], *, only_known: bool = False) -> int:
        metas = fetch_metas(get_celery().backend, [t for t in task_ids if t not in self.set_aside])
        return self.store(self._backend_updates(metas))

    def poll_progress(self) -> int:
        """Refresh STARTED/PROGRESS runs from the backend (PROGRESS has no event)."""
        ids = store.unfinished_ids(db.session, states=("STARTED", "PROGRESS"), limit=500)
        db.session.rollback()
        return self._apply_backend(ids) if ids else 0

    def reconcile(self, *, full: bool = False) -> int:
        """Complete unfinished runs from the backend; ``full`` also adds runs never heard of."""
        self.flush()
        written = 0
        ids = store.unfinished_ids(db.session, limit=5000)
        db.session.rollback()
        for start in range(0, len(ids), 500):
            written += self._apply_backend(ids[start : start + 500])
        written += self.mark_lost()
        if full:
            backend = get_celery().backend
            for chunk in scan_backend_ids(backend):
                unknown = set(chunk) - store.known_ids(db.session, chunk)
                db.session.rollback()
                if unknown:
                    written += self._apply_backend(sorted(unknown))
        return written

    def mark_lost(self) -> int:
        """PENDING runs found nowhere long after they were sent end LOST (``lost``)."""
        return lost.mark_lost(db.session, get_redis(), self.prefix, get_celery(), self.lost_after)

    def prune(self) -> int:
        if self.retention_days <= 0:
            return 0
        from datetime import timedelta

        cutoff = utcnow() - timedelta(days=self.retention_days)
        return store.delete_older_than(db.session, cutoff)

    # -- the process

    def _every(self, name: str, seconds: float, action: Callable[[], object]) -> None:
        now = time.monotonic()
        if now >= self._due.get(name, 0.0):
            self._due[name] = now + seconds
            try:
                action()
            except Exception:
                db.session.rollback()
                log.exception("recorder: %s failed", name)

    def beat(self, active: bool) -> None:
        heartbeat.beat(
            get_redis(),
            self.prefix,
            "recorder",
            ttl=HEARTBEAT_SECONDS * 5,
            instance=self.owner,
            info={
                "active": active,
                "events": self.events,
                "written": self.written,
                "pending": len(self.pending),
                "skipped": self.skipped,
                "origins": self.origins,
            },
        )

    def tick(self) -> bool:
        """Periodic work between event reads; False when this recorder lost its lock."""
        self.flush_due()
        self.fold_due()
        owned = [True]

        def renew() -> None:
            owned[0] = self.lock.hold()
            self.beat(owned[0])

        self._every("heartbeat", HEARTBEAT_SECONDS, renew)
        self._every("progress", self.progress_seconds, self.poll_progress)
        self._every("reconcile", self.reconcile_seconds, self.reconcile)
        self._every("full-scan", self.full_scan_seconds, lambda: self.reconcile(full=True))
        self._every("retention", 3600.0, self.prune)
        self._every("origins-dropped", 10.0, self.count_dropped_origins)
        return owned[0]

    def run(self, should_stop: Callable[[], bool]) -> None:
        """Consume events until ``should_stop()``; stands by while another recorder is active."""
        client = get_redis()
        try:
            while not should_stop():
                try:
                    holding = self.lock.hold()
                    if not holding:
                        self.beat(False)
                except redis.exceptions.RedisError as exc:  # Redis not up yet, or away: wait for it
                    log.warning("recorder: Redis unreachable (%s); retrying", exc)
                    time.sleep(1.0)
                    continue
                if not holding:
                    time.sleep(HEARTBEAT_SECONDS)
                    continue
                try:
                    self._consume(should_stop)
                except Exception:
                    db.session.rollback()
                    log.exception("recorder: event stream interrupted; reconnecting")
                    time.sleep(1.0)
        finally:
            try:
                self.flush()
            finally:
                try:
                    self.lock.release()
                    heartbeat.stop(client, self.prefix, "recorder", self.owner)
                except redis.exceptions.RedisError:  # Redis gone at shutdown: the lock expires
                    log.warning("recorder: could not release the lock at shutdown")

    def _consume(self, should_stop: Callable[[], bool]) -> None:
        celery_app = get_celery()
        with celery_app.connection_for_read() as connection:
            receiver = celery_app.events.Receiver(connection, handlers={"*": self.handle})
            with receiver.consumer_context(wakeup=False) as (conn, _channel, _consumers):
                # Subscribed: from here on no event is missed, so catch up on the downtime.
                self._due.clear()
                self.reconcile(full=True)
                self._due["full-scan"] = time.monotonic() + self.full_scan_seconds
                self._due["reconcile"] = time.monotonic() + self.reconcile_seconds
                self.tick()
                log.info("recorder: consuming task events")
                while not should_stop():
                    try:
                        conn.drain_events(timeout=self.flush_seconds)
                    except TimeoutError:
                        pass
                    except socket.timeout:  # noqa: UP041 - older kombu raises socket.timeout
                        pass
                    if not self.tick():
                        log.warning("recorder: lost the recorder lock; standing by")
                        return
