"""Request and response models of the runs API (``/api/v1/runs``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..core.runs import ORIGINS, STATES
from ..openapi import documented, run_option
from .service import MAX_PAGE_SIZE, PAGE_SIZE


class RunsQuery(BaseModel):
    """Filters (each optional) and a keyset page: ``before``/``after`` are cursors of a page."""

    task: str = Field("", description="Task name.")
    state: str = Field("", json_schema_extra={"enum": ["", *STATES]})
    queue: str = ""
    worker: str = ""
    origin: str = Field("", json_schema_extra={"enum": ["", *ORIGINS]})
    schedule: str = Field("", description="Schedule id.")
    since: str = Field("", description="ISO 8601 date-time.")
    until: str = Field("", description="ISO 8601 date-time.")
    q: str = Field(
        "",
        description='A search (docs/history.md "Search"), e.g. state:FAILURE task:tasks.sync* '
        'exception:"timed out" -origin:schedule since:2h',
    )
    before: str = Field("", description="next_cursor of the previous page.")
    after: str = Field("", description="prev_cursor of the previous page.")
    limit: int = Field(PAGE_SIZE, json_schema_extra={"minimum": 1, "maximum": MAX_PAGE_SIZE})


class RevokeBody(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"terminate": False}]})

    terminate: documented({"type": "boolean", "description": "Also kill it if it is running."}) = None


class RunOut(BaseModel):
    """A run as the history keeps it (texts are stored size-bounded)."""

    cursor: int
    id: str
    name: str | None
    state: str
    progress: Any = None
    worker: str | None
    queue: str | None
    retries: int | None
    sent_at: str | None
    received_at: str | None
    started_at: str | None
    finished_at: str | None
    runtime: float | None
    origin: str | None
    origin_ref: str | None
    retry_of: str | None
    parent_id: str | None
    root_id: str | None
    group_id: str | None = None
    attempts: int = Field(1, description="1 + the retries: Celery keeps one id through them.")
    args: str | None
    kwargs: str | None
    exception: str | None = Field(None, description="A failed run's exception, cut at 500 characters.")


class TimelineEntry(BaseModel):
    """One piece of news of an attempt (see docs/history.md, "Attempts")."""

    model_config = ConfigDict(extra="allow")

    k: str = Field(description="sent, received, started, progress, retried, succeeded, failed, revoked, ...")
    n: int = Field(description="The attempt, 1 for the first.")
    at: str | None


class Timeline(BaseModel):
    entries: list[TimelineEntry]
    dropped: int


class RunDetail(RunOut):
    result: str | None
    exception: str | None
    traceback: str | None
    timeline: Timeline


class WorkflowNode(BaseModel):
    """A run (id, name, state, attempts, children) or a group (group_id, members, callbacks)."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    name: str | None = None
    state: str | None = None
    attempts: int | None = None
    children: list[WorkflowNode] = []
    group_id: str | None = None
    members: list[WorkflowNode] = []
    callbacks: list[WorkflowNode] = []


class WorkflowOut(BaseModel):
    id: str
    runs: int
    truncated: bool
    states: dict[str, int]
    tree: list[WorkflowNode]


class WorkflowRevoked(BaseModel):
    id: str
    revoked: list[str]
    terminate: bool


class Retried(RunDetail):
    url: str


class RunPage(BaseModel):
    runs: list[RunOut]
    next_cursor: int | None
    prev_cursor: int | None


class Revoked(BaseModel):
    id: str
    revoked: bool
    terminate: bool


class ErrorsQuery(BaseModel):
    window: str = Field("day", json_schema_extra={"enum": ["hour", "day", "week"]})


class ErrorsRetryBody(BaseModel):
    window: str = Field("day", json_schema_extra={"enum": ["hour", "day", "week"]})


class ErrorExample(BaseModel):
    id: str
    exception: str


class ErrorGroupOut(BaseModel):
    key: str = Field(description="16 hexadecimal digits; search error:<key> for its runs.")
    type: str
    pattern: str = Field(description="The message with numbers, ids and addresses as <n>, <id>, <addr>.")
    count: int
    first_seen: str
    last_seen: str
    tasks: dict[str, int]
    example: ErrorExample
    runs_url: str


class ErrorGroups(BaseModel):
    window: str
    groups: list[ErrorGroupOut]


class ErrorsRetried(BaseModel):
    key: str
    window: str
    retried: list[str]
    refused: int


class RetryChanges(BaseModel):
    """What to change; anything left out stays as the run had it (the arguments exact when the
    result backend kept them). The bounds are the run form's."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"kwargs": {"partner": "acme"}, "queue": "celery", "countdown": 10}]}
    )

    args: run_option("args", "Positional arguments.") = None
    kwargs: run_option("kwargs", "Keyword arguments.") = None
    queue: run_option("queue", "A queue the app configures or a live worker consumes.") = None
    priority: run_option("priority", "0-9.") = None
    countdown: run_option("countdown", "Seconds from now.") = None
    eta: run_option("eta", "When to run (ISO 8601).") = None
    expires: run_option("expires", "Seconds from sending, or an ISO 8601 date-time.") = None
    timezone: run_option("timezone", "IANA zone an ETA without offset is read in.") = None
