"""A Celery beat scheduler that reads schedules from the dashboard's database.

Run it as ``celery -A celery_app:app beat -S dashboard.schedules.scheduler:DatabaseScheduler``.

Each tick: keep (or try to take) the Redis beat lock; only the holder fires. Read the version
counter (one primary-key read); when it moved, reload only the rows whose ``changed_version`` is
newer, plus the list of enabled ids to notice deletions. Then fire what is due from an in-memory
heap: each run is claimed in SQL first (compare-and-set on ``next_run_at``), with its task id
and message in the outbox (:mod:`.outbox`), and published afterwards, at most once per task id
and only while this beat still holds the lock under the same fencing number. Before firing
anything new, the holder publishes whatever the outbox still holds (claimed by a beat that was
killed or paused, or refused by the broker) under the same task ids. So a restart, a kill -9 or
a second beat never loses or doubles a due run.
"""

from __future__ import annotations

import heapq
import logging
import signal
import threading
import time
from datetime import datetime

from celery.beat import Scheduler

from .. import heartbeat, mount
from ..timeutil import utcnow

logger = logging.getLogger(__name__)


class DatabaseScheduler(Scheduler):
    """Schedules from SQL, one active beat at a time, edits picked up without a restart."""

    #: Seconds between ticks when nothing is due sooner (``--max-interval`` overrides it).
    max_interval = 1
    #: Static entries need no persistence: their state lives in the active beat's memory.
    sync_every = 60
    #: Due runs claimed per transaction (one commit per batch, then one publish each).
    batch_size = 500

    def __init__(self, *args, **kwargs):
        self._flask = None
        self._context = None
        self._runs: dict = {}
        self._queue: list[tuple[float, int, datetime]] = []
        self._version = -1
        self._holding = False
        self._last_heartbeat = 0.0
        self._in_tick = False
        self._stop_requested = False
        self.sender = None
        self._unconfirmed = 0
        super().__init__(*args, **kwargs)

    # ----------------------------------------------------------------- Scheduler interface

    def setup_schedule(self) -> None:
        from ..core.beat import beat_lock
        from ..setup import create_process_app

        self._flask = create_process_app()
        self._context = self._flask.app_context()
        self._context.push()
        config = self._flask.config
        self.prefix = config["TASKDECK_KEY_PREFIX"]
        self.grace = float(config.get("SCHEDULE_MISSED_GRACE", 300.0))
        ttl = config.get("SCHEDULE_LOCK_TTL") or max(5.0 * float(self.max_interval), 5.0)
        self.redis = mount.first(self._flask).redis
        self.instance = heartbeat.instance_id()
        self.lock = beat_lock(self.redis, self.prefix, self.instance, float(ttl))
        self.heartbeat_ttl = float(ttl)
        from ..redis_client import broker_on_dashboard_redis
        from .outbox import Sender

        self.sender = Sender(self.app, self.redis, self.prefix, self.lock, broker_on_dashboard_redis())
        self.merge_inplace(self.app.conf.beat_schedule)
        logger.info("beat: database scheduler %s, lock TTL %.1f s", self.instance, ttl)
        if threading.current_thread() is threading.main_thread():
            # Celery's own handlers close the scheduler (and its app context) wherever the signal
            # lands, abandoning the rest of a claimed batch: finish the batch, then stop.
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, self._request_stop)

    @property
    def schedule(self) -> dict:
        """The static ``beat_schedule`` entries (database schedules live in ``self._runs``)."""
        return self.data

    def tick(self, *args, **kwargs) -> float:
        """One pass: hold the lock, notice edits, fire what is due; return seconds to sleep."""
        from ..extensions import db

        self._in_tick = True
        try:
            return self._tick(db.session)
        except Exception:
            logger.exception("beat: tick failed; reloading every schedule")
            db.session.rollback()
            self._version = -1  # the heap may have lost popped entries: rebuild it from SQL
            return float(self.max_interval)
        finally:
            db.session.remove()  # end the read transaction: never pin an old snapshot
            self._in_tick = False
            if self._stop_requested:
                logger.info("beat: stopping after the batch in hand")
                raise SystemExit()  # celery's service loop ends cleanly and closes the scheduler

    def _request_stop(self, _signum, _frame) -> None:
        """SIGTERM or SIGINT: a tick in progress finishes its batch first; between ticks, stop now."""
        if self._in_tick:
            self._stop_requested = True
            return
        raise SystemExit()

    def sync(self) -> None:
        """Run state is written as each run is claimed; nothing is left to flush."""

    def close(self) -> None:
        if self._flask is None:
            return
        try:
            self.lock.release()
            heartbeat.stop(self.redis, self.prefix, "beat", self.instance)
        except Exception:  # Redis may already be gone at shutdown
            logger.warning("beat: could not release the lock at shutdown", exc_info=True)
        if self._context is not None:
            self._context.pop()
            self._context = None
        super().close()

    @property
    def info(self) -> str:
        return "    . db -> dashboard schedules (lock under TASKDECK_KEY_PREFIX)"

    # ----------------------------------------------------------------- the pass itself

    def _tick(self, session) -> float:
        from .service import current_version

        holding = self.lock.hold()
        if not holding:
            if self._holding:
                logger.warning("beat: lost the lock; standing by")
            self._holding = False
            self._beat("standby")
            return float(self.max_interval)
        if not self._holding:
            logger.info("beat: holding the lock (fence %d); firing schedules", self.lock.fence)
            self._holding = True
            self._reload(session, full=True)
        else:
            version = current_version(session)
            if version != self._version:
                self._reload(session, full=False)
        if self._resend_pending(session):
            self._fire_due(session)
        if self._holding:
            self._fire_static()
        self._beat("active" if self._holding else "standby")
        return self._sleep_seconds()

    def _resend_pending(self, session) -> bool:
        """Publish what the outbox still holds, oldest first; False when that could not finish."""
        from .firing import outgoing_of
        from .outbox import pending

        while fires := pending(session, self.batch_size):
            if not self._renew():
                return False
            messages = [outgoing_of(fire) for fire in fires]
            pushed = self._send(session, messages)
            if pushed is None:
                self._unconfirmed = len(messages)
                return False
            logger.warning(
                "beat: published %d claimed run(s) left unconfirmed (%d were already at the broker)",
                pushed,
                len(messages) - pushed,
            )
        self._unconfirmed = 0
        return True

    def _send(self, session, messages) -> int | None:
        """Publish and confirm claimed runs; how many were pushed now, None when they stay claimed."""
        from ..core.publish import Fenced

        try:
            pushed = self.sender.send(session, messages)
        except Fenced:
            logger.warning(
                "beat: lost the lock before publishing %d claimed run(s); the holder publishes them",
                len(messages),
            )
            self._holding = False
            return None
        except Exception as exc:
            session.rollback()
            logger.warning(
                "beat: could not publish %d claimed run(s); they stay claimed and are tried again: %r",
                len(messages),
                exc,
            )
            return None
        for message in messages:
            logger.debug("beat: sent %s (%s) as %s", message.origin_ref, message.task, message.task_id)
        return pushed

    def _reload(self, session, *, full: bool) -> None:
        from sqlalchemy import func, select

        from .firing import ScheduleRun
        from .models import Schedule
        from .service import current_version

        version = current_version(session)
        query = select(Schedule)
        if full:
            self._runs = {}
        else:
            query = query.where(Schedule.changed_version > self._version)
        changed = [row for row in session.scalars(query)]
        for row in changed:
            self._track(ScheduleRun.from_row(row) if row.enabled and row.next_run_at else None, row.id)
        if full:
            self._queue = [
                (run.next_run_at.timestamp(), run.id, run.next_run_at) for run in self._runs.values()
            ]
            heapq.heapify(self._queue)
        else:
            # Deleted rows leave no changed row behind: the count of runnable rows tells whether
            # one went (every other change stamps its row), and only then are ids compared.
            runnable = Schedule.enabled.is_(True) & Schedule.next_run_at.is_not(None)
            if session.execute(select(func.count()).where(runnable)).scalar_one() != len(self._runs):
                present = set(session.scalars(select(Schedule.id).where(runnable)))
                for gone in set(self._runs) - present:
                    del self._runs[gone]
            # Stale heap entries of changed rows are skipped when popped.
            for row in changed:
                run = self._runs.get(row.id)
                if run is not None:
                    heapq.heappush(self._queue, (run.next_run_at.timestamp(), run.id, run.next_run_at))
        self._version = version
        logger.debug("beat: %d schedules at version %d (%d changed)", len(self._runs), version, len(changed))

    def _track(self, run, schedule_id: int) -> None:
        if run is None:
            self._runs.pop(schedule_id, None)
        else:
            self._runs[schedule_id] = run

    def _reload_one(self, session, schedule_id: int) -> None:
        from .firing import ScheduleRun
        from .models import Schedule

        row = session.get(Schedule, schedule_id, populate_existing=True)
        run = ScheduleRun.from_row(row) if row is not None and row.enabled and row.next_run_at else None
        self._track(run, schedule_id)
        if run is not None:
            heapq.heappush(self._queue, (run.next_run_at.timestamp(), run.id, run.next_run_at))

    def _fire_due(self, session) -> None:
        from .firing import claim_due_runs

        horizon = time.time()
        first = True
        while True:
            if not first and not self._renew():  # renew between batches: a long tick keeps it
                return
            first = False
            batch = []
            taken: set[int] = set()
            while self._queue and self._queue[0][0] <= horizon and len(batch) < self.batch_size:
                _, schedule_id, due = heapq.heappop(self._queue)
                run = self._runs.get(schedule_id)
                # Skip stale entries (edited, disabled or deleted since) and duplicates of one.
                if run is not None and run.next_run_at == due and schedule_id not in taken:
                    taken.add(schedule_id)
                    batch.append(run)
            if not batch:
                return
            claims = claim_due_runs(session, batch, utcnow(), self.grace, fence=self.lock.fence)
            if not self._publish(session, batch, claims) or self._stop_requested:
                return  # the rest stays unclaimed in SQL (or claimed in the outbox): fired later

    def _publish(self, session, batch, claims) -> bool:
        """Publish the fired claims of a batch; False when they stay claimed (lock lost, broker
        away): then nothing more is fired this tick."""
        from .firing import schedule_message

        messages = []
        for run, claim in zip(batch, claims, strict=True):
            due = run.next_run_at
            if claim.outcome == "lost":
                self._reload_one(session, run.id)
                continue
            if claim.outcome == "missed":
                logger.warning(
                    "beat: %s missed %d run(s) from %s (beyond the grace period)", run.name, claim.missed, due
                )
            else:
                messages.append(schedule_message(run, claim.task_id, due))
            run.next_run_at = claim.next_run_at
            if run.next_run_at is None:
                self._runs.pop(run.id, None)
            else:
                heapq.heappush(self._queue, (run.next_run_at.timestamp(), run.id, run.next_run_at))
        if not messages:
            return True
        pushed = self._send(session, messages)
        if pushed is not None:
            names = ", ".join(sorted({m.origin_ref for m in messages})[:5])
            logger.info(
                "beat: sent %d run(s) (schedules %s%s; %d already at the broker)",
                pushed,
                names,
                "…" * (len(messages) > 5),
                len(messages) - pushed,
            )
        return pushed is not None

    def _renew(self) -> bool:
        """Keep the lock in the middle of a long tick; False (and standing by) when it is lost."""
        if self.lock.hold():
            return True
        logger.warning("beat: lost the lock during a tick; standing by")
        self._holding = False
        return False

    def _fire_static(self) -> None:
        for entry in list(self.data.values()):
            is_due, _ = entry.is_due()
            if is_due:
                self.apply_entry(self.reserve(entry))

    def _sleep_seconds(self) -> float:
        wait = float(self.max_interval)
        if self._queue:
            wait = min(wait, max(0.0, self._queue[0][0] - time.time()))
        for entry in self.data.values():
            wait = min(wait, max(0.0, entry.is_due()[1]))
        return wait

    def _beat(self, role: str) -> None:
        now = time.monotonic()
        if now - self._last_heartbeat < 1.0:
            return
        self._last_heartbeat = now
        info = {
            "role": role,
            "schedules": len(self._runs) if role == "active" else None,
            "version": self._version,
            "unconfirmed": self._unconfirmed,
        }
        heartbeat.beat(
            self.redis, self.prefix, "beat", ttl=self.heartbeat_ttl, info=info, instance=self.instance
        )
