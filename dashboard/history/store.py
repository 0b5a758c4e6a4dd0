"""The history's writing side: how the recorder merges updates into rows, folds the origin
entries senders leave in Redis, and retention."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import fields
from datetime import datetime

import redis
from sqlalchemy import String, any_, bindparam, delete, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from ..core import origins
from ..core.runs import TaskRun, coalesce, dialect_insert, record_origins
from ..timeutil import utcnow
from .merge import UNFINISHED, RunState, RunUpdate, merge

_MERGED = tuple(f.name for f in fields(RunState))
_CHUNK = 400  # ids per IN (...) query, well under SQLite's parameter limit
ORIGIN_BATCH = 500  # origin entries folded per transaction
ORIGIN_BATCHES_PER_CALL = 8  # at most this many per fold_origins call, so events keep flowing

# Called with (task id or "?", error, the entry as read) for an entry that is set aside.
SetAside = Callable[[str, BaseException, bytes], None]


def database_away(error: BaseException) -> bool:
    """True when ``error`` says the database cannot be reached, not that a record is bad."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError)


def _rows_by_ids(session: Session, columns: list, task_ids: Iterable[str]) -> Iterator:
    """Rows of ``columns`` for the known ids among ``task_ids``, found by the unique index.

    SQLite: ``IN (...)`` chunks under its parameter limit. PostgreSQL: the whole batch as one
    array parameter (``task_id = ANY(%s)``), run unprepared on the session's connection. A
    prepared statement (psycopg prepares a query after its fifth use) keeps a generic plan, and
    one made while the table was nearly empty is a sequential scan that stays until the next
    autoanalyze: the recorder's reads then grow with the table. Planned each time, the read
    always uses the index (planning it costs a fraction of a millisecond per batch).
    """
    ids = list(task_ids)
    if not ids:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        from psycopg.rows import namedtuple_row
        from sqlalchemy.dialects.postgresql import ARRAY

        query = select(*columns).where(TaskRun.task_id == any_(bindparam("task_ids", type_=ARRAY(String))))
        sql = str(query.compile(dialect=connection.dialect))
        driver = connection.connection.driver_connection
        with driver.cursor(row_factory=namedtuple_row) as cursor:
            cursor.execute(sql, {"task_ids": ids}, prepare=False)
            yield from cursor
        return
    for start in range(0, len(ids), _CHUNK):
        yield from session.execute(select(*columns).where(TaskRun.task_id.in_(ids[start : start + _CHUNK])))


def load_states(session: Session, task_ids: Iterable[str]) -> dict[str, RunState]:
    """The stored merge-relevant state of each known id."""
    columns = [getattr(TaskRun, name) for name in _MERGED]
    return {row.task_id: RunState.from_row(row) for row in _rows_by_ids(session, columns, task_ids)}


def apply_updates(session: Session, updates: Iterable[RunUpdate]) -> int:
    """Merge a batch of updates into the table in one transaction; returns the rows written.

    Reads the affected rows once, merges in memory in arrival order (merge() decides what
    wins), then writes every changed row with one upsert statement. The upsert never writes
    the origin columns, which belong to ``record_sent``.
    """
    updates = [u for u in updates if u is not None]
    if not updates:
        return 0
    known = load_states(session, {u.task_id for u in updates})
    merged: dict[str, RunState] = dict(known)
    for item in updates:
        merged[item.task_id] = merge(merged.get(item.task_id), item)
    changed = [state for task_id, state in merged.items() if known.get(task_id) != state]
    if not changed:
        session.rollback()
        return 0
    now = utcnow()
    rows = []
    for state in changed:
        row = state.as_row()
        row["state"] = row["state"] or "PENDING"
        row["created_at"] = now
        row["updated_at"] = now
        row["origin"] = "other"
        rows.append(row)
    insert = dialect_insert(session)
    statement = insert(TaskRun.__table__)  # Core executemany: no ORM bookkeeping per row
    excluded = statement.excluded
    set_ = {name: getattr(excluded, name) for name in _MERGED if name != "task_id"}
    for name in ("name", "args", "kwargs", "queue"):
        # A concurrent record_sent may have written these since we read the row: keep them
        # unless this batch brought a value.
        set_[name] = coalesce(getattr(excluded, name), getattr(TaskRun.__table__.c, name))
    set_["updated_at"] = excluded.updated_at
    session.connection().execute(statement.on_conflict_do_update(index_elements=["task_id"], set_=set_), rows)
    session.commit()
    return len(rows)


def fold_origins(
    session: Session, client: redis.Redis, prefix: str, batch_size: int, set_aside: SetAside
) -> int:
    """Fold the oldest origin entries (``core.origins``) into the history, one transaction per
    batch, removing a batch from Redis only once it is committed; returns the entries folded.

    Idempotent: a batch folded again (a crash before the removal) writes the same rows, and never
    a run's state. An entry that cannot be read or stored goes to ``set_aside``, once, after its
    batch was removed. Raises when the database is away: the entries wait for the next call.
    """
    folded = 0
    for _ in range(ORIGIN_BATCHES_PER_CALL):
        batch = origins.peek(client, prefix, batch_size)
        if not batch:
            break
        entries, refused = [], []
        for raw in batch:
            try:
                entries.append((raw, origins.OriginEntry.from_json(raw)))
            except ValueError as error:
                refused.append((origins.OriginEntry.named_id(raw), error, raw))
        failed = write_origins(session, entries)
        if not origins.trim(client, prefix, batch):
            break  # another recorder folded and removed it meanwhile (it holds the lock now)
        for task_id, error, raw in refused + failed:
            set_aside(task_id, error, raw)
        folded += len(entries) - len(failed)
        if len(batch) < batch_size:
            break
    return folded


def write_origins(
    session: Session, entries: list[tuple[bytes, origins.OriginEntry]]
) -> list[tuple[str, BaseException, bytes]]:
    """Write the runs of ``entries`` (as read, as parsed) in one transaction, tried twice, then
    one by one; returns (task id, error, entry as read) of those that still fail."""
    if not entries:
        return []
    for _attempt in (1, 2):
        try:
            record_origins(session, [entry for _raw, entry in entries])
            return []
        except Exception as error:
            session.rollback()
            if database_away(error):
                raise
    failed = []
    for raw, entry in entries:
        try:
            record_origins(session, [entry])
        except Exception as error:
            session.rollback()
            if database_away(error):
                raise
            failed.append((entry.task_id, error, raw))
    return failed


def unfinished_ids(session: Session, *, states: Iterable[str] = UNFINISHED, limit: int = 500) -> list[str]:
    """Ids of the newest runs not yet in a final state."""
    query = (
        select(TaskRun.task_id)
        .where(TaskRun.state.in_(list(states)))
        .order_by(TaskRun.seq.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def known_ids(session: Session, task_ids: Iterable[str]) -> set[str]:
    return {row.task_id for row in _rows_by_ids(session, [TaskRun.task_id], task_ids)}


def delete_older_than(session: Session, cutoff: datetime, *, batch: int = 5000) -> int:
    """Delete runs created before ``cutoff``, ``batch`` rows per transaction; returns the count."""
    total = 0
    while True:
        seqs = list(
            session.scalars(
                select(TaskRun.seq).where(TaskRun.created_at < cutoff).order_by(TaskRun.seq).limit(batch)
            )
        )
        if not seqs:
            session.commit()
            return total
        session.execute(delete(TaskRun).where(TaskRun.seq.in_(seqs)))
        session.commit()
        total += len(seqs)
        if len(seqs) < batch:
            return total
