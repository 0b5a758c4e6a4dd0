"""Roles and the audit log, usable without a request (dispatcher, beat, scripts)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import random
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from ..core.bounds import MAX_ROW_ID, whole_number
from ..core.text import safe_field, safe_json
from ..timeutil import utcnow
from .models import AuditEntry

ROLES = ("viewer", "operator", "admin")
PARAMS_LIMIT = 4096
MAX_AUDIT_PAGE = 500  # rows one audit page (or API call) returns at most


@dataclass(frozen=True)
class Identity:
    """Who is acting and with which role."""

    user: str
    role: str

    def can(self, needed: str) -> bool:
        """True when this identity's role is at least ``needed``."""
        return ROLES.index(self.role) >= ROLES.index(needed)


@dataclass(frozen=True)
class BasicUser:
    name: str
    role: str
    password_hash: str


def parse_basic_users(text: str) -> dict[str, BasicUser]:
    """``AUTH_BASIC_USERS``: entries ``name:role:hash`` separated by commas or new lines.

    The hash is werkzeug's ``generate_password_hash`` output (``flask taskdeck hash-password``).
    """
    users: dict[str, BasicUser] = {}
    for entry in text.replace("\n", ",").split(","):
        entry = entry.strip()
        if not entry:
            continue
        name, role, password_hash = (entry.split(":", 2) + ["", ""])[:3]
        if not name or role not in ROLES or not password_hash:
            raise ValueError(f"AUTH_BASIC_USERS entry for {name!r} must be name:role:hash with a known role")
        users[name] = BasicUser(name, role, password_hash)
    return users


def check_basic(users: dict[str, BasicUser], name: str, password: str) -> Identity | None:
    """The identity for valid credentials, else None.

    An unknown name costs the same password check as a known one (against a configured user's
    hash, result ignored), so the time of a refusal does not tell which names exist.
    """
    user = users.get(name)
    if user is None:
        decoy = next(iter(users.values()), None)
        if decoy is not None:
            check_password_hash(decoy.password_hash, password)
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    return Identity(user=user.name, role=user.role)


@dataclass(frozen=True)
class AuthSettings:
    """The auth settings parsed once at start-up (they are read on every request)."""

    users: dict[str, BasicUser]
    group_roles: dict[str, str]
    trusted_proxies: list

    @classmethod
    def from_config(cls, config) -> AuthSettings:
        return cls(
            users=parse_basic_users(config["AUTH_BASIC_USERS"]),
            group_roles=parse_group_roles(config["AUTH_GROUP_ROLES"]),
            trusted_proxies=parse_networks(config["AUTH_TRUSTED_PROXIES"]),
        )


def credentials_fingerprint(secret: str, user: BasicUser, authorization: str) -> str:
    """HMAC of the Authorization header, bound to the user's stored hash.

    Kept in the signed session, it spares the slow password hash on every poll; a new password
    (a new stored hash) or other credentials give another fingerprint.
    """
    message = f"{user.name}\0{user.password_hash}\0{authorization}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def parse_group_roles(text: str) -> dict[str, str]:
    """``AUTH_GROUP_ROLES``: ``group=role`` pairs separated by commas."""
    mapping: dict[str, str] = {}
    for pair in text.split(","):
        if not pair.strip():
            continue
        group, _, role = pair.partition("=")
        if role.strip() not in ROLES:
            raise ValueError(f"AUTH_GROUP_ROLES maps {group.strip()!r} to unknown role {role.strip()!r}")
        mapping[group.strip()] = role.strip()
    return mapping


def role_for_groups(groups: list[str], mapping: dict[str, str], default: str = "") -> str | None:
    """The highest role any of ``groups`` maps to, else ``default`` (None when empty)."""
    roles = [mapping[g] for g in groups if g in mapping]
    if not roles:
        return default or None
    return max(roles, key=ROLES.index)


def parse_networks(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """``AUTH_TRUSTED_PROXIES``: addresses or CIDR networks separated by commas."""
    return [ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip()]


def address_in(address: str | None, networks: list) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def bounded_json(value: object, limit: int = PARAMS_LIMIT) -> str:
    """Storable JSON text of ``value`` (dashboard.core.text), at most ``limit`` characters."""
    return safe_field(safe_json(value, sort_keys=True), limit) or ""


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
    # Every text here may come from the request: stored by the one rule, it cannot fail to store.
    entry = AuditEntry(
        who=safe_field(identity.user, 255) or "",
        role=safe_field(identity.role, 16) or "",
        action=safe_field(action, 64) or "",
        target=safe_field(target, 512) or None,
        params=bounded_json(params) if params else None,
        result=safe_field(result, 64) or "",
        request_id=safe_field(request_id, 64),
    )
    session.add(entry)
    session.commit()
    return entry


def prune_audit(session: Session, retention_days: int, batch: int = 1000) -> int:
    """Delete up to ``batch`` audit rows older than ``retention_days``; returns how many."""
    cutoff = utcnow() - timedelta(days=retention_days)
    ids = session.scalars(select(AuditEntry.id).where(AuditEntry.at < cutoff).limit(batch)).all()
    if ids:
        session.execute(delete(AuditEntry).where(AuditEntry.id.in_(ids)))
        session.commit()
    return len(ids)


def maybe_prune_audit(session: Session, retention_days: int, chance: float = 0.01) -> None:
    """Retention without a scheduler: about one write in a hundred also prunes a batch."""
    if retention_days > 0 and random.random() < chance:
        prune_audit(session, retention_days)


@dataclass(frozen=True)
class AuditFilter:
    """What the audit page shows: newest first, filtered, paged by keyset on ``id``."""

    who: str = ""
    action: str = ""
    result: str = ""
    before: int | None = None
    limit: int = 50

    @classmethod
    def from_args(cls, args) -> AuditFilter:
        """Filters from query fields; a cursor or limit out of bounds is refused naming it (422)."""
        before, limit = args.get("before", ""), args.get("limit", "")
        return cls(
            who=args.get("who", "").strip()[:255],
            action=args.get("action", "").strip()[:64],
            result=args.get("result", "").strip()[:64],
            before=whole_number(before, "before", 0, MAX_ROW_ID) if before.strip() else None,
            limit=whole_number(limit, "limit", 1, MAX_AUDIT_PAGE) if limit.strip() else 50,
        )

    def query_args(self, **changes) -> dict[str, object]:
        values = {"who": self.who, "action": self.action, "result": self.result, **changes}
        return {k: v for k, v in values.items() if v not in ("", None)}


def audit_page(session: Session, filters: AuditFilter) -> tuple[list[AuditEntry], int | None]:
    """One page of audit rows and the cursor of the next page (None at the end)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(filters.limit + 1)
    if filters.who:
        query = query.where(AuditEntry.who == filters.who)
    if filters.action:
        query = query.where(AuditEntry.action.startswith(filters.action, autoescape=True))
    if filters.result:
        query = query.where(AuditEntry.result == filters.result)
    if filters.before is not None:
        query = query.where(AuditEntry.id < filters.before)
    rows = list(session.scalars(query))
    more = len(rows) > filters.limit
    rows = rows[: filters.limit]
    return rows, (rows[-1].id if more and rows else None)
