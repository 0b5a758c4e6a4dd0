"""History service: recording runs, finding them, and acting on them (no request objects here)."""

from __future__ import annotations

import ast
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta

from celery import Celery
from flask_babel import gettext, ngettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import String, any_, bindparam, delete, or_, select
from sqlalchemy.orm import Session

from ..core.errors import DashboardError, NotFound, Unprocessable, reason
from ..core.runs import ORIGINS, STATES, TaskRun, coalesce, dialect_insert, record_sent
from ..timeutil import as_utc, utcnow
from .merge import FINAL, UNFINISHED, RunState, RunUpdate, merge

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
BULK_LIMIT = 1000  # most runs one bulk action touches
DISPLAY_LIMIT = 2000  # characters of a value shown on a page; the rest is downloadable
DOWNLOADABLE = ("args", "kwargs", "result", "exception", "traceback")


_MERGED = tuple(f.name for f in fields(RunState))
_CHUNK = 400  # ids per IN (...) query, well under SQLite's parameter limit


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


# --------------------------------------------------------------------------- finding


def _parse_time(value: str, field_name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise Unprocessable(
            _l("%(field)s must be a date and time (YYYY-MM-DDTHH:MM)", field=field_name), field=field_name
        ) from exc
    return as_utc(parsed)


@dataclass(frozen=True)
class Filters:
    """What the operator narrowed the history to; every field optional."""

    task: str = ""
    state: str = ""
    queue: str = ""
    worker: str = ""
    origin: str = ""
    schedule: str = ""
    since: str = ""
    until: str = ""
    q: str = ""

    NAMES = ("task", "state", "queue", "worker", "origin", "schedule", "since", "until", "q")

    @classmethod
    def from_mapping(cls, data: Mapping) -> Filters:
        """Filters from query or form fields; Unprocessable (with the field) when one is invalid."""
        values = {name: str(data.get(name) or "").strip()[:255] for name in cls.NAMES}
        filters = cls(**values)
        if filters.state and filters.state not in STATES:
            raise Unprocessable(
                _l("state must be one of %(choices)s", choices=", ".join(STATES)), field="state"
            )
        if filters.origin and filters.origin not in ORIGINS:
            raise Unprocessable(
                _l("origin must be one of %(choices)s", choices=", ".join(ORIGINS)), field="origin"
            )
        for name in ("since", "until"):
            if getattr(filters, name):
                _parse_time(getattr(filters, name), name)
        return filters

    def as_dict(self) -> dict[str, str]:
        """The non-empty filters, for links and hidden form fields."""
        return {name: getattr(self, name) for name in self.NAMES if getattr(self, name)}

    def clauses(self) -> list:
        where = []
        if self.task:
            where.append(TaskRun.name == self.task)
        if self.state:
            where.append(TaskRun.state == self.state)
        if self.queue:
            where.append(TaskRun.queue == self.queue)
        if self.worker:
            where.append(TaskRun.worker == self.worker)
        if self.origin:
            where.append(TaskRun.origin == self.origin)
        if self.schedule:
            where.append(TaskRun.origin == "schedule")
            where.append(TaskRun.origin_ref == self.schedule)
        if self.since:
            where.append(TaskRun.created_at >= _parse_time(self.since, "since"))
        if self.until:
            where.append(TaskRun.created_at < _parse_time(self.until, "until"))
        if self.q:
            pattern = "%" + self.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append(
                or_(
                    TaskRun.task_id.like(self.q.replace("%", "").replace("_", "") + "%"),
                    TaskRun.args.like(pattern, escape="\\"),
                    TaskRun.kwargs.like(pattern, escape="\\"),
                )
            )
        return where


@dataclass
class Page:
    runs: list[TaskRun]
    older: int | None = None  # pass as ``before`` for the next (older) page
    newer: int | None = None  # pass as ``after`` for the previous (newer) page
    filters: Filters = field(default_factory=Filters)


def _cursor(value: object, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise Unprocessable(
            _l("%(field)s must be a run cursor (an integer)", field=name), field=name
        ) from exc
    if number < 0:
        raise Unprocessable(_l("%(field)s must not be negative", field=name), field=name)
    return number


def list_runs(
    session: Session,
    filters: Filters,
    *,
    before: object = None,
    after: object = None,
    limit: int = PAGE_SIZE,
) -> Page:
    """One page of runs, newest first, by keyset on ``seq`` (never OFFSET).

    ``before`` gives the page of runs older than that cursor; ``after`` the page just newer.
    """
    before, after = _cursor(before, "before"), _cursor(after, "after")
    limit = max(1, min(int(limit), MAX_PAGE_SIZE))
    query = select(TaskRun).where(*filters.clauses())
    if after is not None:
        rows = list(
            session.scalars(query.where(TaskRun.seq > after).order_by(TaskRun.seq.asc()).limit(limit + 1))
        )
        has_newer = len(rows) > limit
        rows = list(reversed(rows[:limit]))
        has_older = bool(rows) and _exists(session, filters, rows[-1].seq)
    else:
        if before is not None:
            query = query.where(TaskRun.seq < before)
        rows = list(session.scalars(query.order_by(TaskRun.seq.desc()).limit(limit + 1)))
        has_older = len(rows) > limit
        rows = rows[:limit]
        has_newer = before is not None and bool(rows) and _exists(session, filters, rows[0].seq, newer=True)
    return Page(
        runs=rows,
        older=rows[-1].seq if rows and has_older else None,
        newer=rows[0].seq if rows and has_newer else None,
        filters=filters,
    )


def _exists(session: Session, filters: Filters, seq: int, *, newer: bool = False) -> bool:
    edge = TaskRun.seq > seq if newer else TaskRun.seq < seq
    return session.execute(select(TaskRun.seq).where(*filters.clauses(), edge).limit(1)).first() is not None


def get_run(session: Session, task_id: str) -> TaskRun:
    run = session.execute(select(TaskRun).where(TaskRun.task_id == task_id)).scalar_one_or_none()
    if run is None:
        raise NotFound(_l("no run with id '%(id)s' in the history", id=task_id))
    return run


@dataclass
class Related:
    parent: TaskRun | None
    root: TaskRun | None
    children: list[TaskRun]
    retried_as: list[TaskRun]
    retry_source: TaskRun | None


def related_runs(session: Session, run: TaskRun, *, limit: int = 100) -> Related:
    """Parent, root, children and operator retries of ``run`` (both directions)."""

    def one(task_id: str | None) -> TaskRun | None:
        if not task_id or task_id == run.task_id:
            return None
        return session.execute(select(TaskRun).where(TaskRun.task_id == task_id)).scalar_one_or_none()

    children = list(
        session.scalars(
            select(TaskRun).where(TaskRun.parent_id == run.task_id).order_by(TaskRun.seq).limit(limit)
        )
    )
    retried_as = list(
        session.scalars(
            select(TaskRun).where(TaskRun.retry_of == run.task_id).order_by(TaskRun.seq).limit(limit)
        )
    )
    return Related(one(run.parent_id), one(run.root_id), children, retried_as, one(run.retry_of))


def run_json(run: TaskRun, *, full: bool = True) -> dict:
    """A run as the API returns it (values are the stored, size-bounded texts)."""

    def stamp(value: datetime | None) -> str | None:
        return as_utc(value).isoformat() if value else None

    data = {
        "cursor": run.seq,
        "id": run.task_id,
        "name": run.name,
        "state": run.state,
        "progress": (run.progress or {}).get("meta") if run.state == "PROGRESS" else None,
        "worker": run.worker,
        "queue": run.queue,
        "retries": run.retries,
        "sent_at": stamp(run.sent_at),
        "received_at": stamp(run.received_at),
        "started_at": stamp(run.started_at),
        "finished_at": stamp(run.finished_at),
        "runtime": run.runtime,
        "origin": run.origin,
        "origin_ref": run.origin_ref,
        "retry_of": run.retry_of,
        "parent_id": run.parent_id,
        "root_id": run.root_id,
        "args": run.args,
        "kwargs": run.kwargs,
    }
    if full:
        data.update(result=run.result, exception=run.exception, traceback=run.traceback)
    return data


def progress_percent(run: TaskRun) -> int | None:
    """0-100 for a PROGRESS run reporting ``current``/``total``; None otherwise."""
    meta = (run.progress or {}).get("meta") or {}
    try:
        current, total = float(meta["current"]), float(meta["total"])
    except (KeyError, TypeError, ValueError):
        return None
    if total <= 0:
        return None
    return int(max(0.0, min(100.0, 100.0 * current / total)))


# --------------------------------------------------------------------------- acting


def _decode_arguments(text: str | None, empty: object, what: str) -> object:
    if text in (None, ""):
        return empty
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        raise Unprocessable(
            _l("the stored %(field)s cannot be sent again (only a shortened repr was recorded)", field=what),
            field=what,
        ) from exc


def original_arguments(celery_app: Celery, run: TaskRun) -> tuple[list, dict]:
    """The run's exact args/kwargs: from the result backend when it kept them, else the history."""
    try:
        meta = celery_app.backend.get_task_meta(run.task_id)
    except Exception:  # backend away or without extended results: fall back to the stored text
        meta = {}
    if isinstance(meta.get("args"), list | tuple) and isinstance(meta.get("kwargs"), dict):
        return list(meta["args"]), dict(meta["kwargs"])
    args = _decode_arguments(run.args, [], "args")
    kwargs = _decode_arguments(run.kwargs, {}, "kwargs")
    if isinstance(args, tuple):
        args = list(args)
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise Unprocessable(_l("the stored arguments are not a list and a mapping"), field="args")
    return args, kwargs


def retry_run(session: Session, celery_app: Celery, task_id: str) -> TaskRun:
    """Send the run's task again (same args, kwargs, queue) under a new id linked to the old one."""
    run = get_run(session, task_id)
    if not run.name:
        raise Unprocessable(_l("the run's task name is not known yet"), field="task_id")
    args, kwargs = original_arguments(celery_app, run)
    new_id = str(uuid.uuid4())
    options = {"queue": run.queue} if run.queue else {}
    # Record first, so the new run carries its origin even if its events arrive before we return.
    record_sent(
        session,
        task_id=new_id,
        name=run.name,
        args=json.dumps(args, default=repr),
        kwargs=json.dumps(kwargs, default=repr),
        queue=run.queue,
        origin="operator",
        retry_of=run.task_id,
    )
    try:
        celery_app.send_task(run.name, args=args, kwargs=kwargs, task_id=new_id, **options)
    except Exception as exc:
        session.execute(delete(TaskRun).where(TaskRun.task_id == new_id))
        session.commit()
        raise DashboardError(
            _l("could not send %(task)s: %(error)s", task=run.name, error=f"{type(exc).__name__}: {exc}")
        ) from exc
    return get_run(session, new_id)


ALREADY_FINISHED = _l("already finished")


@dataclass
class BulkOutcome:
    done: list[str] = field(default_factory=list)
    refused: dict[str, object] = field(default_factory=dict)  # task id -> why (a lazy message)

    def summary(self, action: str) -> str:
        """What happened, in the current language: ``action`` is retry, revoke, terminate or delete."""
        count = len(self.done)
        done = {
            "retry": lambda: ngettext("Retried %(num)s run", "Retried %(num)s runs", count),
            "revoke": lambda: ngettext("Revoked %(num)s run", "Revoked %(num)s runs", count),
            "terminate": lambda: ngettext("Terminated %(num)s run", "Terminated %(num)s runs", count),
            "delete": lambda: ngettext("Deleted %(num)s run", "Deleted %(num)s runs", count),
        }[action]()
        if not self.refused:
            return done
        return gettext(
            "%(done)s; %(count)s refused (%(reason)s)",
            done=done,
            count=len(self.refused),
            reason=str(next(iter(self.refused.values()))),
        )


def _bounded_ids(task_ids: Iterable[str]) -> list[str]:
    ids = list(dict.fromkeys(str(t)[:64] for t in task_ids if t))
    if not ids:
        raise DashboardError(_l("select at least one run"), field="task_id")
    if len(ids) > BULK_LIMIT:
        raise DashboardError(_l("at most %(limit)s runs per action", limit=BULK_LIMIT), field="task_id")
    return ids


def retry_runs(session: Session, celery_app: Celery, task_ids: Iterable[str]) -> BulkOutcome:
    outcome = BulkOutcome()
    for task_id in _bounded_ids(task_ids):
        try:
            outcome.done.append(retry_run(session, celery_app, task_id).task_id)
        except DashboardError as exc:
            outcome.refused[task_id] = reason(exc)
    return outcome


def failed_ids(session: Session, filters: Filters, *, limit: int = BULK_LIMIT) -> list[str]:
    """Ids of the FAILURE runs matching ``filters`` (newest first, at most ``limit``)."""
    query = (
        select(TaskRun.task_id)
        .where(*filters.clauses(), TaskRun.state == "FAILURE")
        .order_by(TaskRun.seq.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def revoke_runs(
    session: Session, celery_app: Celery, task_ids: Iterable[str], *, terminate: bool = False
) -> BulkOutcome:
    """Ask the workers to revoke (and with ``terminate``, kill) these runs; final runs are skipped."""
    outcome = BulkOutcome()
    ids = _bounded_ids(task_ids)
    finished = set(
        session.scalars(
            select(TaskRun.task_id).where(TaskRun.task_id.in_(ids), TaskRun.state.in_(list(FINAL)))
        )
    )
    live = [t for t in ids if t not in finished]
    for task_id in finished:
        outcome.refused[task_id] = ALREADY_FINISHED
    if live:
        try:
            celery_app.control.revoke(live, terminate=terminate, signal="SIGTERM")
        except Exception as exc:
            raise DashboardError(
                _l("could not reach the broker: %(error)s", error=type(exc).__name__)
            ) from exc
        outcome.done.extend(live)
    return outcome


def delete_runs(session: Session, task_ids: Iterable[str]) -> BulkOutcome:
    ids = _bounded_ids(task_ids)
    result = session.execute(delete(TaskRun).where(TaskRun.task_id.in_(ids)))
    session.commit()
    outcome = BulkOutcome()
    outcome.done = ids[: result.rowcount]
    return outcome


def window_start(window: str) -> datetime:
    return utcnow() - (timedelta(days=1) if window == "day" else timedelta(hours=1))
