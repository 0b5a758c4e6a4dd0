"""Request and response models of the tasks API (``/api/v1/tasks``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ..core.bounds import MAX_DELAY_SECONDS, PRIORITY_RANGE
from ..openapi import documented, run_option

Args = run_option("args", "Positional arguments (or use params).")
Kwargs = run_option("kwargs", "Keyword arguments (or use params).")
Queue = run_option("queue", "A queue the app configures or a live worker consumes.")
Priority = run_option("priority", "0-9.", minimum=PRIORITY_RANGE.start, maximum=PRIORITY_RANGE.stop - 1)
Countdown = run_option("countdown", "Seconds to wait before running.", minimum=0, maximum=MAX_DELAY_SECONDS)
Eta = run_option("eta", "ISO 8601; without an offset read in timezone. Not with countdown.")
Expires = run_option(
    "expires", "Seconds from now, or an ISO 8601 date-time.", exclusiveMinimum=0, maximum=MAX_DELAY_SECONDS
)
Zone = run_option("timezone", "IANA time zone name (default UTC).")


class TaskQuery(BaseModel):
    q: str = Field("", description="Text the name or summary contains.")
    internal: str = Field("", description="1 to include Celery's own celery.* tasks.")


class RunBody(BaseModel):
    """A run: arguments and how Celery should send it (the run model's options), and where to."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"args": [2, 3], "priority": 5}]})

    args: Args = None
    kwargs: Kwargs = None
    params: documented(
        {"type": ["object", "null"], "description": "Parameter name to value, bound to the signature."}
    ) = None
    queue: Queue = None
    priority: Priority = None
    countdown: Countdown = None
    eta: Eta = None
    expires: Expires = None
    timezone: Zone = None
    submission: documented(
        {"enum": ["direct", "staged", "auto"], "description": "direct (default), staged or auto."}
    ) = None
    note: documented({"type": "string", "maxLength": 500, "description": "Kept with a staged item."}) = None


class ParameterOut(BaseModel):
    name: str
    kind: str
    annotation: str | None
    default: str | None
    required: bool


class TaskOut(BaseModel):
    name: str
    summary: str
    doc: str
    signature: str
    parameters: list[ParameterOut] | None
    queue: str | None
    routing_key: str | None
    rate_limit: str | None
    soft_time_limit: float | None
    time_limit: float | None
    max_retries: int | None
    workers: list[str]
    in_app: bool
    app_only: bool
    worker_only: bool
    internal: bool


class TaskList(BaseModel):
    tasks: list[TaskOut]
    workers: list[str]
    inspect_error: str | None


class TaskDetail(TaskOut):
    queues: list[str]


class RunLinks(BaseModel):
    history: str
    state: str
    staging: str | None = None
    flower: str | None = None


class RunAccepted(BaseModel):
    """A run sent (202) or staged (201); ``task_id`` is the Celery task id either way."""

    task: str
    args: list
    kwargs: dict
    queue: str | None
    countdown: float | None
    eta: str | None
    expires: str | None
    priority: int | None
    timezone: str
    task_id: str
    outcome: str
    submission: str
    links: RunLinks


class RunStateOut(BaseModel):
    task_id: str
    state: str
    ready: bool
    result: str | None
