"""Request and response models of the schedules API (``/api/v1/schedules``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, RootModel

from ..core.bounds import MAX_DELAY_SECONDS, PRIORITY_RANGE
from ..openapi import documented, run_option
from .timing import KINDS, UNITS

WALL_TIME = "ISO 8601 wall time in the schedule's zone (an offset is honoured)."


class ScheduleBody(BaseModel):
    """A schedule's definition; what each run sends is checked by the run model, as a direct run."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "hourly sum",
                    "task": "tasks.add",
                    "kind": "cron",
                    "cron": "0 * * * *",
                    "args": [1, 2],
                }
            ]
        }
    )

    name: documented({"type": "string", "minLength": 1, "maxLength": 200}) = None
    task: documented({"type": "string", "description": "A task the app knows."}) = None
    kind: documented({"enum": list(KINDS)}) = None
    timezone: run_option("timezone", "IANA zone the schedule's times are read in (default UTC).") = None
    run_at: documented(
        {"type": ["string", "null"], "format": "date-time", "description": f"once: {WALL_TIME}"}
    ) = None
    interval_every: documented(
        {"type": ["integer", "null"], "minimum": 1, "description": "interval: how many units."}
    ) = None
    interval_unit: documented({"enum": [*UNITS, None]}) = None
    cron: documented({"type": ["string", "null"], "description": "cron: five fields, e.g. */5 * * * *."}) = (
        None
    )
    args: run_option("args", "Positional arguments of each run.") = None
    kwargs: run_option("kwargs", "Keyword arguments of each run.") = None
    queue: run_option("queue", "A queue the app configures or a live worker consumes.") = None
    priority: run_option(
        "priority", "0-9.", minimum=PRIORITY_RANGE.start, maximum=PRIORITY_RANGE.stop - 1
    ) = None
    expires_seconds: documented(
        {
            "type": ["integer", "null"],
            "minimum": 1,
            "maximum": MAX_DELAY_SECONDS,
            "description": "Message TTL.",
        }
    ) = None
    start_at: documented({"type": ["string", "null"], "format": "date-time", "description": WALL_TIME}) = None
    end_at: documented({"type": ["string", "null"], "format": "date-time", "description": WALL_TIME}) = None
    description: documented({"type": ["string", "null"]}) = None
    enabled: documented({"type": "boolean", "description": "Enable it at once (default false)."}) = None
    enable_now: documented({"type": "boolean", "description": "Same as enabled."}) = None


class ImportBody(RootModel[documented({"type": "array", "items": ScheduleBody.model_json_schema()})]):
    """Schedules as the export gives them; each is created, or updated when its name exists."""


class ListQuery(BaseModel):
    task: str = Field("", description="Only schedules of this task.")
    enabled: str = Field("", description="yes or no.", json_schema_extra={"enum": ["", "yes", "no"]})


class CountQuery(BaseModel):
    count: int = Field(
        5, description="How many runs (1-100).", json_schema_extra={"minimum": 1, "maximum": 100}
    )


class PreviewQuery(CountQuery):
    """An unsaved definition's timing members (as ScheduleBody), as query parameters."""

    kind: str = Field("", json_schema_extra={"enum": list(KINDS)})
    timezone: str = ""
    run_at: str = ""
    interval_every: str = ""
    interval_unit: str = ""
    cron: str = ""
    start_at: str = ""
    end_at: str = ""


class ScheduleOut(BaseModel):
    id: int
    name: str
    task: str
    kind: str
    timezone: str
    run_at: str | None
    interval_every: int | None
    interval_unit: str | None
    cron: str | None
    args: list
    kwargs: dict
    queue: str | None
    priority: int | None
    expires_seconds: int | None
    start_at: str | None
    end_at: str | None
    enabled: bool
    description: str | None
    human: str
    next_run_at: str | None
    last_run_at: str | None
    last_task_id: str | None
    total_run_count: int
    missed_run_count: int
    last_missed_at: str | None


class ScheduleList(RootModel[list[ScheduleOut]]):
    pass


class DeletedOut(BaseModel):
    deleted: int


class Triggered(BaseModel):
    task_id: str
    history: str


class RunTimeOut(BaseModel):
    at: str
    schedule_zone: str
    operator_zone: str


class NextRuns(BaseModel):
    id: int
    runs: list[RunTimeOut]


class PreviewOut(BaseModel):
    """The definition in words and its next runs (422: ``error``/``field`` instead)."""

    human: str | None
    runs: list[RunTimeOut]


class Imported(BaseModel):
    created: int
    updated: int


class BeatInstanceOut(BaseModel):
    instance: str
    at: str
    role: str
    schedules: int | None


class BeatOut(BaseModel):
    holder: str | None
    lock_ttl_ms: int | None
    last_tick: str | None
    instances: list[BeatInstanceOut]
