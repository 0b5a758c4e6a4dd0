"""How the demo sends its work: through the dashboard's own services, so every run gets its real origin.

- ``operator``: the registry's run request and submission (the Run form and the API's path);
- ``other``: Celery's own ``send_task`` and canvas, as code outside the dashboard sends;
- ``schedule``: the schedule store and its "trigger now";
- ``staging``: the staging list (stage, auto submission, move from a queue, release, hold).

Each run the demo can follow is noted with the states it should be in when the demo finishes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import redis
from celery import Celery
from sqlalchemy.orm import Session

from ..core.broker import layout_for
from ..core.staging import StagingItem
from ..core.submission import Submission
from ..history import actions as history_actions
from ..history.merge import FINAL
from ..queues import actions as queue_actions
from ..registry import service as registry
from ..schedules import firing
from ..schedules import service as schedules
from ..schedules.models import Schedule
from ..staging import service as staging
from ..staging.keys import StagingKeys
from ..timeutil import utcnow

STAGED_BY = "taskdeck demo"


@dataclass(frozen=True)
class Sent:
    """One run the demo sent, what it stands for, and the states it should end the demo in."""

    task_id: str
    label: str
    origin: str
    expect: frozenset[str] = FINAL


@dataclass
class Work:
    """The services the demo sends through, bound to one app's clients, and what it sent."""

    celery: Celery
    client: redis.Redis  # the dashboard's Redis (staging list, heartbeats)
    broker: redis.Redis  # the broker's Redis (the same client when they are one server)
    session: Session
    prefix: str
    max_bytes: int
    same_server: bool
    sent: list[Sent] = field(default_factory=list)
    staged: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)

    def note(self, task_id: str, label: str, origin: str, expect: frozenset[str] = FINAL) -> str:
        self.sent.append(Sent(task_id, label, origin, frozenset(expect)))
        return task_id

    def expected(self, runs: Iterable[Sent] | None = None) -> dict[str, tuple[str, frozenset[str]]]:
        """Task id -> (label, states it should be in), for the history waits."""
        return {s.task_id: (s.label, s.expect) for s in (self.sent if runs is None else runs)}

    # ------------------------------------------------------------------ origin "operator"

    def operator(
        self,
        task: str,
        label: str,
        *,
        args: list | None = None,
        kwargs: dict | None = None,
        submission: str = "direct",
        note: str = "",
        expect: frozenset[str] = FINAL,
        **options: object,
    ) -> Submission:
        """Run ``task`` as the registry's Run form does (validated, then sent or staged)."""
        request = registry.parse_run_request(
            {"task": task, "args": args or [], "kwargs": kwargs or {}, **options},
            self.celery,
            max_payload_bytes=self.max_bytes,
            now=utcnow(),
        )
        submitted = registry.submit_run(
            self.client,
            self.celery,
            self.session,
            self.prefix,
            request,
            submission=submission,
            staged_by=STAGED_BY,
            max_bytes=self.max_bytes,
            note=note,
            broker=None if self.same_server else self.broker,
        )
        if submitted.staged:
            self.staged.append(submitted.task_id)
        else:
            self.note(submitted.task_id, label, "operator", expect)
        return submitted

    def retry(self, task_id: str, label: str) -> str:
        """Send a recorded run again, as the history's Retry button does (``retry_of`` set)."""
        retried = history_actions.retry_run(self.session, self.celery, task_id)
        return self.note(retried.task_id, label, "operator")

    def terminate(self, task_id: str) -> None:
        """Revoke a running run and kill its process, as the history's Terminate button does."""
        history_actions.revoke_runs(self.session, self.celery, [task_id], terminate=True)

    # ------------------------------------------------------------------ origin "other"

    def other(
        self,
        task: str,
        label: str,
        *,
        args: list | None = None,
        kwargs: dict | None = None,
        expect: frozenset[str] = FINAL,
        **options: object,
    ) -> str:
        """Send ``task`` with Celery's own ``send_task``, as code outside the dashboard does."""
        result = self.celery.send_task(task, args=args or [], kwargs=kwargs or {}, **options)
        return self.note(result.id, label, "other", expect)

    # ------------------------------------------------------------------ origin "schedule"

    def schedule(self, data: dict) -> Schedule:
        """Store a schedule through the schedule store (the form's and the API's validation)."""
        created = schedules.create_schedule(self.session, self.celery, data, max_payload=self.max_bytes)
        self.schedules.append(created)
        return created

    def trigger(self, schedule: Schedule, label: str) -> str:
        """Send one run of ``schedule`` now, as its "Trigger now" button does."""
        task_id = firing.trigger_now(self.session, self.celery, schedule.id)
        return self.note(task_id, label, "schedule")

    # ------------------------------------------------------------------ origin "staging"

    def stage(self, task: str, *, args=None, kwargs=None, options=None, note: str = "") -> StagingItem:
        """Add a validated item at the tail of the staging list, as its API does."""
        item = staging.build_item(
            self.celery,
            {
                "task": task,
                "args": args or [],
                "kwargs": kwargs or {},
                "options": options or {},
                "note": note,
            },
            staged_by=STAGED_BY,
            max_bytes=self.max_bytes,
        )
        staging.stage_item(self.client, self.prefix, item)
        self.staged.append(item.id)
        return item

    def stage_unchecked(self, item: StagingItem) -> None:
        """Add an item no validation would pass (as one stored before validation existed)."""
        staging.stage_item(self.client, self.prefix, item)
        self.staged.append(item.id)

    def hold(self, item_id: str) -> bool:
        """Set a poison item aside, as the dispatcher does when it meets one at the head."""
        raw = self.client.hget(StagingKeys(self.prefix).items, item_id)
        if raw is None:
            return False
        try:
            staging.message_for(self.celery, item_id, raw)
        except staging.UnreleasableItem as exc:
            if staging.hold(self.client, self.prefix, exc):
                self.staged.remove(item_id)
                self.held.append(item_id)
                return True
        return False

    def release(
        self, item: StagingItem, label: str, *, record: bool = True, expect: frozenset[str] = FINAL
    ) -> str | None:
        """Release one item now (its id becomes the task id): as its Release button does, which
        also writes the history row at once, or (``record`` False) as the dispatcher does, leaving
        the row to the recorder's fold of the origin entry the release script appended."""
        outcome = staging.release(
            self.client, self.celery, self.prefix, item.id, same_server=self.same_server
        )
        if not outcome.released:
            return None
        if record:
            staging.record_release(self.session, outcome)
        self.staged.remove(item.id)
        return self.note(item.id, label, "staging", expect)

    def move_from_queue(self, queue: str, task_id: str) -> StagingItem:
        """Move a waiting message into the staging list, as the queue page's "Move to staging" does."""
        item = queue_actions.move_to_staging(
            self.broker,
            layout_for(self.celery),
            self.celery,
            queue,
            task_id,
            prefix=self.prefix,
            same_server=self.same_server,
            staged_by=STAGED_BY,
            max_bytes=self.max_bytes,
        )
        self.sent = [s for s in self.sent if s.task_id != task_id]  # no longer a waiting message
        self.staged.append(item.id)
        return item
