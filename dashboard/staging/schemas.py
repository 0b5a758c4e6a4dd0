"""Request and response models of the staging API (``/api/v1/staging``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ..core.bounds import MAX_DELAY_SECONDS, PRIORITY_RANGE
from ..core.staging import NOTE_LIMIT, POLICY_STATES
from ..openapi import StagingItemOut, documented, run_option
from .service import POSITIONS

Args = run_option("args", "Positional arguments.")
Kwargs = run_option("kwargs", "Keyword arguments.")
ItemId = documented({"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$"})
Note = documented({"type": "string", "maxLength": NOTE_LIMIT})


class RunOptions(BaseModel):
    """How Celery sends the item once released (the run model's options, relative times kept)."""

    queue: run_option("queue", "A queue the app configures or a live worker consumes.") = None
    priority: run_option(
        "priority", "0-9.", minimum=PRIORITY_RANGE.start, maximum=PRIORITY_RANGE.stop - 1
    ) = None
    countdown: run_option("countdown", "Seconds after the release.", minimum=0, maximum=MAX_DELAY_SECONDS) = (
        None
    )
    eta: run_option("eta", "ISO 8601 date-time.") = None
    expires: run_option(
        "expires", "Seconds after the release, or a date-time.", exclusiveMinimum=0, maximum=MAX_DELAY_SECONDS
    ) = None
    timezone: run_option("timezone", "IANA zone in which an ETA/expiry without an offset is read.") = None


Options = documented(
    {"anyOf": [{**RunOptions.model_json_schema(), "additionalProperties": False}, {"type": "null"}]}
)


class StagingQuery(BaseModel):
    limit: int = Field(
        500, description="Items to return, head first.", json_schema_extra={"minimum": 1, "maximum": 10_000}
    )


class AddBody(BaseModel):
    """A new item: the task and its run, and whether to stage it or submit it (``auto``)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"task": "tasks.add", "args": [1, 2], "note": "after the deploy"}]}
    )

    task: str = Field(description="A task the app knows (404 when it does not).")
    args: Args = None
    kwargs: Kwargs = None
    options: Options = None
    note: Note = None
    id: ItemId = None
    mode: documented({"enum": ["staged", "auto"], "description": "staged (default) or auto."}) = None
    at: documented({"enum": ["tail", "head"], "description": "Where a staged item goes (default tail)."}) = (
        None
    )


class EditBody(BaseModel):
    """The members of the item to change; the others are kept."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"note": "checked"}]})

    task: str = Field(None, description="A task the app knows.")
    args: Args = None
    kwargs: Kwargs = None
    options: Options = None
    note: Note = None


class MoveBody(BaseModel):
    """Where to move the item: next to a neighbour (``before``/``after``) or to a ``position``."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"position": "top"}]})

    before: documented({"type": ["string", "null"], "description": "Put it before this item id."}) = None
    after: documented({"type": ["string", "null"], "description": "Put it after this item id."}) = None
    position: documented({"enum": [*POSITIONS, None]}) = None
    version: documented(
        {"type": ["integer", "null"], "description": "The version the move was made against (else 409)."}
    ) = None


class PolicyBody(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"state": "running", "low_water": 2}]})

    state: documented({"enum": list(POLICY_STATES)}) = None
    low_water: documented({"type": "integer", "minimum": 1}) = None
    max_rate: documented(
        {"type": "number", "minimum": 0, "description": "Releases per second; 0 = no limit."}
    ) = None


class SnapshotOut(BaseModel):
    version: int
    total: int
    items: list[StagingItemOut]


class Added(BaseModel):
    id: str
    outcome: str = Field(description="staged (201) or sent (202).")
    version: int


class Changed(BaseModel):
    id: str
    version: int


class Released(BaseModel):
    id: str
    task_id: str
    queue: str | None
    version: int | None


class PolicyOut(BaseModel):
    state: str
    low_water: int
    max_rate: float


class DispatcherOut(PolicyOut):
    dispatchers: list[dict]
