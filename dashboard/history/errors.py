"""Failures grouped by what went wrong: the exception's type and its message with the parts that
vary from run to run (numbers, ids, addresses) taken out (docs/history.md, "Errors").

The recorder stores each FAILURE run's group key (``task_runs.error_group``, 16 hex digits of a
SHA-1 of type and pattern: a grouping key, not a secret), so the errors page groups on an
indexed column. The page looks at a window of at most a week: it finds the window's first run
by its time (one index seek) and reads only the failures after it, from a partial index of
failures that holds every column the page groups on (``ix_task_runs_failures``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..core.runs import TaskRun
from ..timeutil import utcnow

WINDOWS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7)}
GROUPS_SHOWN = 100
TASKS_SHOWN = 5
PATTERN_LIMIT = 300
# A stored exception cut at its size limit has lost its closing parenthesis: the pattern allows it.
_CALL = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)\((?P<message>.*?)\)?$", re.S)
_COLON = re.compile(
    r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Timeout)): (?P<message>.*)$"
)
_VARYING = (
    (re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"), "<id>"),
    (re.compile(r"0x[0-9a-fA-F]+"), "<addr>"),
    (re.compile(r"\b[0-9a-fA-F]{12,}\b"), "<hex>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
)


def normalise(exception: str) -> tuple[str, str]:
    """(exception type, message pattern) of a stored exception text."""
    text = exception.strip().split("\n", 1)[0][:2000]
    match = _CALL.match(text) or _COLON.match(text)
    kind, message = (match.group("type"), match.group("message")) if match else ("", text)
    if message[:1] in ("'", '"'):
        message = message[1:-1] if len(message) >= 2 and message[-1] == message[0] else message[1:]
    for pattern, placeholder in _VARYING:
        message = pattern.sub(placeholder, message)
    return kind[:120], message[:PATTERN_LIMIT]


def group_key(exception: str | None) -> str | None:
    if not exception:
        return None
    kind, message = normalise(exception)
    key = f"{kind}\x00{message}".encode("utf-8", "replace")
    return hashlib.sha1(key, usedforsecurity=False).hexdigest()[:16]


@dataclass
class ErrorGroup:
    key: str
    count: int
    first_seen: datetime
    last_seen: datetime
    kind: str = ""
    pattern: str = ""
    example: str = ""  # the latest run's exception, as stored
    example_id: str = ""
    tasks: dict[str, int] = field(default_factory=dict)

    @property
    def query(self) -> str:
        """The history search for this group's runs."""
        return f"error:{self.key}"


def window_floor(session: Session, since: datetime) -> int | None:
    """The ``seq`` of the first run recorded at or after ``since`` (None: nothing that recent)."""
    query = select(TaskRun.seq).where(TaskRun.created_at >= since).order_by(TaskRun.created_at).limit(1)
    return session.scalar(query)


def groups(session: Session, window: str = "day", *, now: datetime | None = None) -> list[ErrorGroup]:
    """The window's failures grouped, most frequent first (at most GROUPS_SHOWN groups)."""
    since = (now or utcnow()) - WINDOWS[window]
    floor = window_floor(session, since)
    if floor is None:
        return []
    rows = session.execute(
        select(
            TaskRun.error_group,
            TaskRun.name,
            func.count(),
            func.min(TaskRun.created_at),
            func.max(TaskRun.created_at),
            func.max(TaskRun.seq),
        )
        .where(TaskRun.error_group.is_not(None), TaskRun.seq >= floor)  # only FAILURE runs have one
        .group_by(TaskRun.error_group, TaskRun.name)
    ).all()
    found: dict[str, ErrorGroup] = {}
    latest: dict[str, int] = {}
    for key, name, count, first, last, newest in rows:
        group = found.get(key)
        if group is None:
            group = found[key] = ErrorGroup(key, 0, first, last)
        group.count += count
        group.first_seen, group.last_seen = min(group.first_seen, first), max(group.last_seen, last)
        group.tasks[name or "?"] = group.tasks.get(name or "?", 0) + count
        latest[key] = max(latest.get(key, 0), newest)
    shown = sorted(found.values(), key=lambda g: (-g.count, g.key))[:GROUPS_SHOWN]
    examples = dict(
        (row.seq, row)
        for row in session.execute(
            select(TaskRun.seq, TaskRun.task_id, TaskRun.exception).where(
                TaskRun.seq.in_([latest[g.key] for g in shown])
            )
        )
    )
    for group in shown:
        example = examples.get(latest[group.key])
        if example is not None:
            group.example, group.example_id = (example.exception or "")[:2000], example.task_id
            group.kind, group.pattern = normalise(example.exception or "")
        group.tasks = dict(sorted(group.tasks.items(), key=lambda item: -item[1])[:TASKS_SHOWN])
    return shown


def failed_in_group(session: Session, key: str, window: str, limit: int) -> list[str]:
    """Ids of the window's FAILURE runs of group ``key``, newest first (for "retry all")."""
    floor = window_floor(session, utcnow() - WINDOWS[window])
    if floor is None:
        return []
    query = (
        select(TaskRun.task_id)
        .where(TaskRun.error_group == key, TaskRun.state == "FAILURE", TaskRun.seq >= floor)
        .order_by(TaskRun.seq.desc())
        .limit(limit)
    )
    return list(session.scalars(query))
