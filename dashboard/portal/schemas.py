"""Request and response models of the audit API (``/api/v1/audit``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class AuditQuery(BaseModel):
    who: str = Field("", description="Exactly this user.")
    action: str = Field("", description="Actions starting with this (e.g. staging.).")
    result: str = Field("", description="Exactly this result (e.g. 200, forbidden).")
    before: str = Field("", description="next_cursor of the previous page.")
    limit: str = Field("", description="1-500 (default 50).")


class AuditEntryOut(BaseModel):
    id: int
    at: str
    who: str
    role: str
    action: str
    target: str | None
    params: str | None
    result: str
    request_id: str | None


class AuditPage(BaseModel):
    entries: list[AuditEntryOut]
    next_cursor: int | None
