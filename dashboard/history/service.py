"""Finding recorded runs: filters, keyset pages, one run and its relatives (no request objects here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..core.bounds import MAX_ROW_ID, whole_number
from ..core.errors import NotFound, Unprocessable
from ..core.runs import ORIGINS, STATES, TaskRun
from ..timeutil import as_utc, utcnow
from . import query

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
BULK_LIMIT = 1000  # most runs one bulk action touches
DISPLAY_LIMIT = 2000  # characters of a value shown on a page; the rest is downloadable
DOWNLOADABLE = ("args", "kwargs", "result", "exception", "traceback")


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
        query.parse(filters.q)  # QueryError (422, field q) when the search is not in the language
        return filters

    @property
    def scanned(self) -> bool:
        """True when the search has text terms, so only the newest query.SCAN_ROWS runs are read."""
        tree = query.parse(self.q) if self.q else None
        return tree is not None and query.scans(tree)

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
            tree = query.parse(self.q)
            if tree is not None:
                where.append(query.clause(tree))
                if query.scans(tree):
                    where.append(query.scan_floor())
        return where


@dataclass
class Page:
    runs: list[TaskRun]
    older: int | None = None  # pass as ``before`` for the next (older) page
    newer: int | None = None  # pass as ``after`` for the previous (newer) page
    filters: Filters = field(default_factory=Filters)


def _cursor(value: object, name: str) -> int | None:
    """A run cursor (a ``seq``) from a request, refused naming ``name`` outside 0..MAX_ROW_ID."""
    if value in (None, ""):
        return None
    return whole_number(value, name, 0, MAX_ROW_ID)


def page_size(value: object) -> int:
    """A page size from a request (``limit``), refused outside 1..MAX_PAGE_SIZE; blank is PAGE_SIZE."""
    if value in (None, ""):
        return PAGE_SIZE
    return whole_number(value, "limit", 1, MAX_PAGE_SIZE)


def list_runs(
    session: Session,
    filters: Filters,
    *,
    before: object = None,
    after: object = None,
    limit: object = PAGE_SIZE,
) -> Page:
    """One page of runs, newest first, by keyset on ``seq`` (never OFFSET).

    ``before`` gives the page of runs older than that cursor; ``after`` the page just newer.
    """
    before, after = _cursor(before, "before"), _cursor(after, "after")
    limit = page_size(limit)
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


def runs_by_id(session: Session, task_ids: list[str], *, limit: int = MAX_PAGE_SIZE) -> list[TaskRun]:
    """The runs of these ids (the unfinished rows a live list shows), newest first; unknown ids
    and ids past ``limit`` are left out."""
    wanted = list(dict.fromkeys(task_ids))[:limit]
    if not wanted:
        return []
    query = select(TaskRun).where(TaskRun.task_id.in_(wanted)).order_by(TaskRun.seq.desc())
    return list(session.scalars(query))


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
        "progress": run.progress_meta if run.state == "PROGRESS" else None,
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
        "group_id": run.group_id,
        "attempts": run.attempts,
        "args": run.args,
        "kwargs": run.kwargs,
    }
    if full:
        data.update(result=run.result, exception=run.exception, traceback=run.traceback)
        data["timeline"] = run.timeline or {"entries": [], "dropped": 0}
    elif run.state in ("FAILURE", "RETRY"):
        data["exception"] = (run.exception or "")[:500] or None
    return data


def node_json(node) -> dict:
    """A node of a workflow tree (``workflow.Node``) as the API returns it."""
    if node.is_group:
        return {
            "group_id": node.group_id,
            "members": [node_json(member) for member in node.children],
            "callbacks": [node_json(callback) for callback in node.callbacks],
        }
    run = node.run
    return {
        "id": run.task_id,
        "name": run.name,
        "state": run.state,
        "attempts": run.attempts,
        "children": [node_json(child) for child in node.children],
    }


def window_start(window: str) -> datetime:
    return utcnow() - (timedelta(days=1) if window == "day" else timedelta(hours=1))
