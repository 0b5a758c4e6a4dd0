"""Where a sent run came from, noted in Redis in the same step as the send, folded into SQL later.

A sender that pushes a broker message from a Lua script (a staging release; beat's publish) cannot
write SQL in that step, and writing SQL after it costs a transaction per message. Instead the
script also appends an *origin entry* to one Redis list, and the active history recorder folds
that list into ``task_runs`` in batches (``dashboard/history/recorder.py``).

The contract (writers in other areas rely on it; keep the names and the shape stable):

- The list is ``origins_key(prefix)`` (``<prefix>history:origins``), a Redis LIST, oldest first.
  Writers append with RPUSH, in the same script that LPUSHes the broker message when they can
  (then the entry exists exactly when the message does), else right after the send (``push``).
- Each element is the JSON text ``entry(outgoing, queue, sent_at)`` returns, an object with:
  ``task_id`` (str), ``name`` (str), ``args`` and ``kwargs`` (JSON text, cut like the history's
  columns), ``queue`` (str or null), ``origin`` (one of ``runs.ORIGINS``), ``origin_ref`` (str or
  null), ``retry_of`` (str or null) and ``sent_at`` (epoch seconds, float). Build it with
  ``entry`` rather than by hand: the text rule and the bounds are applied there.
- The list is capped at ``MAX_ENTRIES``: a script that wants the cap prepends ``PUSH_LUA`` and
  calls ``push_origin(KEYS[i], KEYS[j], ARGV[k])`` with ``origins_key`` and ``dropped_key``; an
  entry that finds the list full is not added, and counted under ``dropped_key`` (the run is still
  recorded from its events, without its origin). A plain RPUSH is read the same way.
- The reader (one active recorder) takes a batch from the head (``peek``), commits it to SQL,
  then removes it (``trim``, only while that batch is still at the head). A crash between the two
  folds the same entries again, so folding is idempotent: an upsert by task id that writes the
  origin columns, never the run's state. An entry that cannot be read is set aside
  (``set_aside``), never retried, and the recorder goes on.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import redis
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from . import scripts
from .runs import ORIGINS, record_origins
from .text import safe_field, safe_json, safe_text

if TYPE_CHECKING:
    from .dispatch import Outgoing

log = logging.getLogger(__name__)

MAX_ENTRIES = 100_000  # entries the list holds while no recorder folds it
VALUE_LIMIT = 65_536  # characters of args/kwargs kept, as the history stores them
NAME_SIZE = 255  # name, queue and origin_ref columns
SET_ASIDE_KEPT = 100  # unreadable entries kept for a look (newest first)
SHOWN_ENTRY = 2_000  # characters of such an entry kept
# Epoch seconds a sent time may take: the history's datetimes (year 1 to 9999), with room.
LATEST_SENT_AT = 253_402_300_799.0


def origins_key(prefix: str) -> str:
    """LIST of origin entries (JSON text), oldest first; see the module docstring."""
    return f"{prefix}history:origins"


def dropped_key(prefix: str) -> str:
    """STRING counter: entries not added because the list held ``MAX_ENTRIES``."""
    return f"{prefix}history:origins:dropped"


def set_aside_key(prefix: str) -> str:
    """LIST, newest first, of JSON ``{entry, reason, at}`` for entries the recorder could not fold."""
    return f"{prefix}history:origins:set-aside"


# A Lua function for scripts that push entries: appends ``entry`` unless the list is full, in
# which case the dropped counter moves on instead. Prepend it to a script's source.
PUSH_LUA = f"""
local function push_origin(origins, dropped, entry)
  if redis.call('LLEN', origins) < {MAX_ENTRIES} then
    redis.call('RPUSH', origins, entry)
    return 1
  end
  redis.call('INCR', dropped)
  return 0
end
"""

# Guarantee: every entry is appended in order, unless the list is full (then counted as dropped).
# KEYS: origins, dropped. ARGV: entries. Returns how many were appended.
PUSH = scripts.register(
    "origins.push",
    PUSH_LUA
    + """
local pushed = 0
for i = 1, #ARGV do pushed = pushed + push_origin(KEYS[1], KEYS[2], ARGV[i]) end
return pushed
""",
)

# Guarantee: removes the first ARGV[1] entries only when the batch that was read is still the
# head of the list (its first and last entries where they were), so a reader that lost a race to
# another never removes entries nobody has folded. KEYS: origins. ARGV: count, first, last entry.
# Returns 1 when removed, 0 when the head had changed.
TRIM = scripts.register(
    "origins.trim",
    """
local n = tonumber(ARGV[1])
if redis.call('LINDEX', KEYS[1], 0) == ARGV[2] and redis.call('LINDEX', KEYS[1], n - 1) == ARGV[3] then
  redis.call('LTRIM', KEYS[1], n, -1)
  return 1
end
return 0
""",
)


class UnreadableEntry(ValueError):
    """An element of the origins list that is no origin entry (set aside by the recorder)."""


@dataclass(frozen=True)
class OriginEntry:
    """One "this task id was sent, from here" note, as read from the list and bounded again."""

    task_id: str
    name: str | None
    args: str | None
    kwargs: str | None
    queue: str | None
    origin: str
    origin_ref: str | None
    retry_of: str | None
    sent_at: float

    @classmethod
    def from_json(cls, raw: str | bytes) -> OriginEntry:
        """The entry ``raw`` holds; UnreadableEntry for anything else (never trusted as written)."""
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise UnreadableEntry(f"not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise UnreadableEntry("not a JSON object")
        task_id, origin, sent_at = data.get("task_id"), data.get("origin"), data.get("sent_at")
        if not isinstance(task_id, str) or not task_id:
            raise UnreadableEntry("task_id must be a non-empty string")
        if origin not in ORIGINS:
            raise UnreadableEntry(f"unknown origin {safe_field(origin, 40)!r}")
        if isinstance(sent_at, bool) or not isinstance(sent_at, int | float):
            raise UnreadableEntry("sent_at must be a number")
        if not (math.isfinite(sent_at) and 0 <= sent_at <= LATEST_SENT_AT):
            raise UnreadableEntry(f"sent_at out of range: {sent_at!r}")
        texts = {}
        for name in ("name", "args", "kwargs", "queue", "origin_ref", "retry_of"):
            value = data.get(name)
            if value is not None and not isinstance(value, str):
                raise UnreadableEntry(f"{name} must be a string or null")
            texts[name] = value
        # The writer applied the rule already; applied again, it holds whoever wrote the entry.
        limit = VALUE_LIMIT + 100  # room for the "not stored" note a cut value ends with
        return cls(
            task_id=safe_text(task_id),  # never cut: a cut id would name another run
            name=safe_field(texts["name"], NAME_SIZE),
            args=None if texts["args"] is None else safe_text(texts["args"], limit),
            kwargs=None if texts["kwargs"] is None else safe_text(texts["kwargs"], limit),
            queue=safe_field(texts["queue"], NAME_SIZE),
            origin=origin,
            origin_ref=safe_field(texts["origin_ref"], NAME_SIZE),
            retry_of=None if texts["retry_of"] is None else safe_text(texts["retry_of"]),
            sent_at=float(sent_at),
        )

    @staticmethod
    def named_id(raw: str | bytes) -> str:
        """The task id an unreadable entry names, when it names one; else "?" (for the log)."""
        try:
            task_id = json.loads(raw).get("task_id")
        except (ValueError, RecursionError, AttributeError):
            return "?"
        return task_id if isinstance(task_id, str) and task_id else "?"

    @property
    def sent_time(self) -> datetime:
        return datetime.fromtimestamp(self.sent_at, UTC)


def entry(outgoing: Outgoing, queue: str | None, sent_at: float) -> str:
    """The origin entry (JSON text) of a message sent to ``queue`` at ``sent_at`` (epoch seconds)."""
    if outgoing.origin not in ORIGINS:
        raise ValueError(f"unknown origin {outgoing.origin!r}")
    data = {
        "task_id": safe_text(outgoing.task_id),
        "name": safe_field(outgoing.task, NAME_SIZE),
        "args": safe_json(outgoing.args, VALUE_LIMIT),
        "kwargs": safe_json(outgoing.kwargs, VALUE_LIMIT),
        "queue": safe_field(queue, NAME_SIZE),
        "origin": outgoing.origin,
        "origin_ref": safe_field(outgoing.origin_ref, NAME_SIZE),
        "retry_of": None if outgoing.retry_of is None else safe_text(outgoing.retry_of),
        "sent_at": float(sent_at),
    }
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def push(client: redis.Redis, prefix: str, entries: Sequence[str]) -> int:
    """Append entries for sends that were not atomic with them (after the send); returns how many
    were kept (the rest found the list full and were counted as dropped)."""
    if not entries:
        return 0
    return int(PUSH(client, keys=[origins_key(prefix), dropped_key(prefix)], args=list(entries)))


def peek(client: redis.Redis, prefix: str, limit: int) -> list[bytes]:
    """The oldest ``limit`` entries, left in the list (``trim`` removes them once folded)."""
    return client.lrange(origins_key(prefix), 0, limit - 1)


def trim(client: redis.Redis, prefix: str, batch: Sequence[bytes]) -> bool:
    """Remove ``batch`` (as ``peek`` returned it) from the head; False when the head had changed."""
    if not batch:
        return True
    return bool(TRIM(client, keys=[origins_key(prefix)], args=[len(batch), batch[0], batch[-1]]))


def set_aside(client: redis.Redis, prefix: str, raw: bytes | str, reason: str, at: str) -> None:
    """Keep an entry the recorder could not fold among the last ``SET_ASIDE_KEPT``, with why."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    record = json.dumps({"entry": safe_text(text, SHOWN_ENTRY), "reason": reason, "at": at})
    pipe = client.pipeline(transaction=True)
    pipe.lpush(set_aside_key(prefix), record)
    pipe.ltrim(set_aside_key(prefix), 0, SET_ASIDE_KEPT - 1)
    pipe.execute()


def take_dropped(client: redis.Redis, prefix: str) -> int:
    """How many entries found the list full since the last call (and reset the count)."""
    pipe = client.pipeline(transaction=True)
    pipe.get(dropped_key(prefix))
    pipe.delete(dropped_key(prefix))
    count, _deleted = pipe.execute()
    return int(count or 0)


def record_now(session: Session, text: str) -> bool:
    """Write the row of one entry at once (for a page that shows the run right away), with the
    fold's own upsert; the recorder folds the entry from Redis again, to the same row. False
    (logged) when the database failed twice: the fold still records it."""
    entry_ = OriginEntry.from_json(text)
    for attempt in (1, 2):
        try:
            return bool(record_origins(session, [entry_]))
        except SQLAlchemyError as exc:
            session.rollback()
            if attempt == 2:
                log.warning("run %s not in the history yet (the recorder folds it): %s", entry_.task_id, exc)
    return False
