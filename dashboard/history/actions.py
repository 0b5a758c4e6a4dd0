"""Acting on recorded runs: retry, revoke, delete, one at a time or in bulk."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from celery import Celery
from flask_babel import gettext, ngettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..core.dispatch import Outgoing, send
from ..core.errors import DashboardError, NotFound, Unprocessable, reason
from ..core.run_options import queue_checker, validate_run
from ..core.runs import TaskRun
from ..core.tasks import require_task
from .merge import FINAL
from .service import BULK_LIMIT, Filters, get_run
from .workflow import remember_revoked, workflow_of


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
    """Send the run's task again (same args, kwargs, queue) under a new id linked to the old one.

    Sent first, then recorded (``core.dispatch``): a broker that refuses raises BrokerUnavailable
    and leaves no history row.
    """
    run = get_run(session, task_id)
    if not run.name:
        raise Unprocessable(_l("the run's task name is not known yet"), field="task_id")
    args, kwargs = original_arguments(celery_app, run)
    retry = Outgoing(
        task=run.name,
        args=args,
        kwargs=kwargs,
        origin="operator",
        retry_of=run.task_id,
        options={"queue": run.queue} if run.queue else {},
    )
    return _sent_retry(session, celery_app, run, retry)


def _sent_retry(session: Session, celery_app: Celery, run: TaskRun, retry: Outgoing) -> TaskRun:
    new_id = send(celery_app, session, retry)
    try:
        return get_run(session, new_id)
    except NotFound:
        # Sent, but the history could not note it (logged): the recorder adds the row from events.
        queue = retry.options.get("queue", run.queue)
        return TaskRun(task_id=new_id, name=run.name, state="PENDING", queue=queue, retry_of=run.task_id)


def changeable_values(celery_app: Celery, run: TaskRun) -> dict[str, str]:
    """What the "retry with changes" form starts from: the exact arguments when the result
    backend kept them, else the stored text (a shortened repr the operator must mend)."""
    try:
        args, kwargs = original_arguments(celery_app, run)
        values = {
            "args": json.dumps(args, ensure_ascii=False),
            "kwargs": json.dumps(kwargs, ensure_ascii=False),
        }
    except (DashboardError, TypeError, ValueError):
        values = {"args": run.args or "[]", "kwargs": run.kwargs or "{}"}
    return {**values, "queue": run.queue or "", "priority": "", "countdown": ""}


CHANGEABLE = ("args", "kwargs", "queue", "priority", "countdown", "eta", "expires", "timezone")


def retry_with_changes(
    session: Session,
    celery_app: Celery,
    task_id: str,
    changes: Mapping,
    *,
    max_payload_bytes: int,
    now: datetime,
) -> TaskRun:
    """Send the run's task again with ``changes`` (any of CHANGEABLE; what is not given stays as
    the run had it), validated as the run form validates, under a new id linked to the old one."""
    run = get_run(session, task_id)
    if not run.name:
        raise Unprocessable(_l("the run's task name is not known yet"), field="task_id")
    unknown = sorted(set(changes) - set(CHANGEABLE))
    if unknown:
        raise Unprocessable(_l("%(field)s cannot be changed", field=unknown[0]), field=unknown[0])
    given = {name: value for name, value in changes.items() if value not in (None, "")}
    if "args" not in given or "kwargs" not in given:
        args, kwargs = original_arguments(celery_app, run)
        given.setdefault("args", args)
        given.setdefault("kwargs", kwargs)
    if "queue" not in given and run.queue:
        given["queue"] = run.queue
    validated = validate_run(
        {"task": run.name, **given},
        task=require_task(celery_app, run.name),
        now=now,
        max_payload_bytes=max_payload_bytes,
        queue_known=queue_checker(celery_app),
    )
    retry = Outgoing(
        task=run.name,
        args=validated.args,
        kwargs=validated.kwargs,
        origin="operator",
        retry_of=run.task_id,
        options=validated.send_options(now),
    )
    return _sent_retry(session, celery_app, run, retry)


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


def revoke_workflow(
    session: Session, celery_app: Celery, client, prefix: str, task_id: str, *, terminate: bool = False
) -> BulkOutcome:
    """Revoke every unfinished run of the workflow ``task_id`` belongs to, and any step of it sent
    later (``workflow.revoke_late_steps``); a workflow with nothing left to revoke is refused.

    A run with no known step yet (the first of a chain, before it sent the next) is a workflow of
    its own: revoked, its root is remembered, and what it sends later is revoked on sight.
    """
    flow = workflow_of(session, get_run(session, task_id), alone=True)
    live = flow.unfinished
    if not live:
        raise DashboardError(_l("every run of this workflow has already finished"), field="task_id")
    try:
        remember_revoked(client, prefix, flow.roots)
    except Exception as exc:  # Redis away: nothing was revoked
        raise DashboardError(_l("could not reach Redis: %(error)s", error=type(exc).__name__)) from exc
    outcome = BulkOutcome()
    for start in range(0, len(live), BULK_LIMIT):
        part = revoke_runs(session, celery_app, live[start : start + BULK_LIMIT], terminate=terminate)
        outcome.done.extend(part.done)
        outcome.refused.update(part.refused)
    return outcome


def delete_runs(session: Session, task_ids: Iterable[str]) -> BulkOutcome:
    ids = _bounded_ids(task_ids)
    result = session.execute(delete(TaskRun).where(TaskRun.task_id.in_(ids)))
    session.commit()
    outcome = BulkOutcome()
    outcome.done = ids[: result.rowcount]
    return outcome
