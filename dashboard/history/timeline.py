"""A run's attempts: the bounded list of what happened to it, kept with the run.

Celery keeps one task id through every retry, so one ``task_runs`` row stands for all of a run's
attempts; the timeline is where they stay apart. Each piece of news the recorder merges adds an
entry (``merge.merge``), stored as JSON in ``task_runs.timeline``:

    {"entries": [{"k": kind, "n": attempt, "at": ISO time or null, ...}, ...], "dropped": 0}

- ``k``: sent, received, started, progress, retried, succeeded, failed, revoked, rejected, or
  ``ended`` (an end the result backend told of when no event did).
- ``n``: the attempt, 1 for the first; a retry's message carries ``retries`` + 1.
- optional ``w`` (the worker), ``x`` (the exception, at most :data:`TEXT_LIMIT` characters),
  ``eta`` (when a retried or delayed message was due), ``s`` (the state of an ``ended`` entry),
  ``p`` (a progress percentage).

Bounded: at most :data:`LIMIT` entries. Past that the first :data:`KEEP_FIRST` stay (how the run
began) and the oldest after them make room, counted in ``dropped``. Progress collapses: a new
progress entry of the same attempt replaces the previous one. The same news twice (an event seen
again after a reconnect) is one entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..core.text import safe_text

LIMIT = 60
KEEP_FIRST = 6
TEXT_LIMIT = 500
EVENT_KINDS = {
    "task-sent": "sent",
    "task-received": "received",
    "task-started": "started",
    "task-retried": "retried",
    "task-succeeded": "succeeded",
    "task-failed": "failed",
    "task-revoked": "revoked",
    "task-rejected": "rejected",
}
ENDS = frozenset({"succeeded", "failed", "revoked", "ended"})
# Celery's task-retried event gives repr(Retry): "Retry(Retry(...), ConnectionError('x'), 0.2)".
_RETRY_REPR = re.compile(r"^Retry\((?:Retry\(\.\.\.\)|'[^']*'|None), (?P<exc>.*), (?P<when>[^,]*)\)$", re.S)


def entry(
    kind: str,
    attempt: int,
    at: datetime | None,
    *,
    worker: str | None = None,
    exception: str | None = None,
    eta: str | None = None,
    state: str | None = None,
    percent: int | None = None,
) -> dict:
    """One timeline entry (see the module docstring); text values are bounded storable text."""
    item: dict = {"k": kind, "n": max(1, attempt), "at": at.astimezone(UTC).isoformat() if at else None}
    if worker:
        item["w"] = safe_text(worker, 255)
    if exception:
        item["x"] = safe_text(exception, TEXT_LIMIT)
    if eta:
        item["eta"] = safe_text(eta, 64)
    if state:
        item["s"] = state
    if percent is not None:
        item["p"] = percent
    return item


def add(timeline: dict | None, item: dict) -> dict:
    """``timeline`` with ``item`` added (a new dict; the argument is not modified)."""
    entries = list((timeline or {}).get("entries") or [])
    dropped = int((timeline or {}).get("dropped") or 0)
    if item in entries:
        return {"entries": entries, "dropped": dropped}
    if item["k"] == "ended" and any(e.get("k") in ENDS and e.get("n") == item["n"] for e in entries):
        return {"entries": entries, "dropped": dropped}  # an event already told of this end
    last = entries[-1] if entries else {}
    if item["k"] == last.get("k") == "progress" and last.get("n") == item["n"]:
        entries.pop()
    entries.append(item)
    while len(entries) > LIMIT:
        del entries[KEEP_FIRST]
        dropped += 1
    return {"entries": entries, "dropped": dropped}


def retry_details(text: str | None) -> tuple[str | None, str | None]:
    """(the exception, the countdown in seconds as text) of a task-retried event's exception."""
    if not text:
        return None, None
    match = _RETRY_REPR.match(text)
    if not match:
        return text, None
    when = match.group("when").strip()
    return match.group("exc"), (None if when in ("None", "") else when)


@dataclass
class Attempt:
    """One attempt as the run page shows it: its entries in order, and how it ended."""

    number: int
    entries: list[dict] = field(default_factory=list)

    @property
    def exception(self) -> str | None:
        return next((e["x"] for e in reversed(self.entries) if e.get("x")), None)

    @property
    def outcome(self) -> str | None:
        last = next((e for e in reversed(self.entries) if e["k"] in ENDS or e["k"] == "retried"), None)
        if last is None:
            return None
        return last.get("s") or last["k"]


def _time(value: object) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed and not parsed.tzinfo else parsed


def attempts(timeline: dict | None) -> list[Attempt]:
    """The timeline's entries grouped by attempt, oldest first, entries in arrival order; each
    entry is a copy with ``time`` (a datetime, or None) and ``due`` (its ``eta`` as one)."""
    grouped: dict[int, Attempt] = {}
    for item in (timeline or {}).get("entries") or []:
        if not isinstance(item, dict) or "k" not in item:
            continue
        number = item.get("n") if isinstance(item.get("n"), int) else 1
        shown = {**item, "time": _time(item.get("at")), "due": _time(item.get("eta"))}
        grouped.setdefault(number, Attempt(number)).entries.append(shown)
    return [grouped[n] for n in sorted(grouped)]


def dropped(timeline: dict | None) -> int:
    value = (timeline or {}).get("dropped")
    return value if isinstance(value, int) else 0


def ending(
    state: str, finished_at: datetime | None, exception: str | None, found: list[Attempt]
) -> dict | None:
    """The end of a finished run that no entry tells of (a message deleted or purged, a run
    marked lost, or a run recorded before it had a timeline), as an entry to show last."""
    if found and found[-1].outcome in ENDS:
        return None
    kind = state.lower() if state in ("DISCARDED", "LOST") else "ended"
    shown = entry(kind, found[-1].number if found else 1, finished_at, exception=exception)
    if kind == "ended":
        shown["s"] = state
    return {**shown, "time": finished_at}
