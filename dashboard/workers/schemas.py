"""Request and response models of the workers API (``/api/v1/workers``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel

from ..openapi import documented
from .control import COMMANDS


class ControlBody(BaseModel):
    """A control command from the fixed list, and its arguments (see GET /workers/commands)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"command": "rate_limit", "arguments": {"task_name": "tasks.add", "rate_limit": "10/m"}}
            ]
        }
    )

    command: documented({"enum": sorted(COMMANDS), "description": "The command's name."}) = None
    arguments: documented({"type": ["object", "null"], "description": "The command's arguments by name."}) = (
        None
    )


class WorkerRowOut(BaseModel):
    hostname: str
    status: str = Field(description="online, unresponsive or offline.")
    last_seen: float | None
    info: dict[str, Any] | None = Field(description="What stats said: pool, pid, processed, broker...")
    in_use: int | None
    queues: list[str]
    load: float | None


class WorkerListOut(BaseModel):
    workers: list[WorkerRowOut]
    inspected_at: float | None
    timeout: float
    error: str | None
    stale: bool


class WorkerDetailOut(BaseModel):
    """Every inspect section of one worker (null where it did not answer), and when each was taken."""

    hostname: str
    status: str
    last_seen: float | None
    inspected_at: dict[str, float | None] | None = None


class ArgumentOut(BaseModel):
    name: str
    type: str
    required: bool
    choices: list[str]


class CommandOut(BaseModel):
    label: str
    role: str
    destructive: bool
    arguments: list[ArgumentOut]


class Commands(RootModel[dict[str, CommandOut]]):
    """Command name to what it takes and the role it needs."""


class ControlReplyOut(BaseModel):
    hostname: str
    ok: bool
    message: str


class ControlResultOut(BaseModel):
    command: str
    label: str
    destination: str
    arguments: dict[str, Any]
    replies: list[ControlReplyOut]
    expects_reply: bool
