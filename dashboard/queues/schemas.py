"""Request and response models of the queues API (``/api/v1/queues``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ..openapi import StagingItemOut, documented
from .service import DEFAULT_LIMIT, MAX_LIMIT


class MessagesQuery(BaseModel):
    """Paging; ``read_page`` checks the numbers (400 naming the parameter)."""

    limit: documented({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}) = (
        None
    )
    position: documented(
        {"type": "integer", "minimum": 0, "description": "Start here (0 = next to run)."}
    ) = None
    cursor: str = Field("", description="next_cursor of the previous page.")


class QueueSummaryOut(BaseModel):
    name: str
    length: int
    lengths: dict[str, int] = Field(description="Priority step to messages waiting in it.")
    sources: list[str]
    consumers: list[str]
    oldest_age: float | None
    oldest_age_source: str | None


class QueueList(BaseModel):
    queues: list[QueueSummaryOut]
    workers_answered: bool


class QueueMessageOut(BaseModel):
    """A waiting message as decoded without evaluating it; ``problem`` when it could not be."""

    position: int
    priority_step: int
    raw_size: int
    sha1: str
    decoded: bool
    problem: str | None
    task: str | None
    task_id: str | None
    argsrepr: str | None
    kwargsrepr: str | None
    eta: str | None
    expires: str | None
    retries: int | None
    priority: int | None
    parent_id: str | None
    root_id: str | None
    content_type: str | None
    protocol: int | None
    sent_at: float | None
    delete_key: str


class MessagePageOut(BaseModel):
    queue: str
    total: int
    lengths: dict[str, int]
    position: int
    limit: int
    messages: list[QueueMessageOut]
    next_cursor: str | None


class HeldMessageOut(BaseModel):
    message: QueueMessageOut
    worker: str | None
    state: str
    held_since: float | None
    eta: str | None


class HeldList(BaseModel):
    queue: str
    held: list[HeldMessageOut]
    truncated: bool
    workers_answered: bool


class Deleted(BaseModel):
    deleted: QueueMessageOut


class StagedLinks(BaseModel):
    staging: str
    history: str


class Staged(BaseModel):
    staged: StagingItemOut
    links: StagedLinks


class Purged(BaseModel):
    queue: str
    purged: int
