"""Roles and the audit log, usable without a request (dispatcher, beat, scripts)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy.orm import Session

from .models import AuditEntry

ROLES = ("viewer", "operator", "admin")
PARAMS_LIMIT = 4096


@dataclass(frozen=True)
class Identity:
    """Who is acting and with which role."""

    user: str
    role: str

    def can(self, needed: str) -> bool:
        """True when this identity's role is at least ``needed``."""
        return ROLES.index(self.role) >= ROLES.index(needed)


def bounded_json(value: object, limit: int = PARAMS_LIMIT) -> str:
    """JSON text of ``value``, cut to ``limit`` characters so one request cannot flood the log."""
    text = json.dumps(value, default=str, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def record_audit(
    session: Session,
    identity: Identity,
    action: str,
    *,
    target: str | None,
    params: object,
    result: str,
    request_id: str | None = None,
) -> AuditEntry:
    """Write one audit row and commit it."""
    entry = AuditEntry(
        who=identity.user,
        role=identity.role,
        action=action,
        target=(target or "")[:512] or None,
        params=bounded_json(params) if params else None,
        result=result[:64],
        request_id=request_id,
    )
    session.add(entry)
    session.commit()
    return entry
