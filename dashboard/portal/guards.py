"""Two guards in front of the dashboard's identity and mutations, besides roles and CSRF tokens.

- **Fetch metadata.** A browser says where a request comes from in ``Sec-Fetch-Site``. A mutation
  from another site (``cross-site``) is refused; one from a sibling site (``same-site``) only
  passes when its ``Origin`` is listed in ``TRUSTED_ORIGINS`` (the portal's). Without the header
  (older browsers, scripts), an ``Origin`` that is neither the dashboard's own nor trusted is
  refused the same way. Requests with neither header are not a browser's cross-site request
  (scripts with their own credentials) and pass to the CSRF and Content-Type rules.
- **Basic auth attempt limiting.** Failed sign-ins are counted in Redis per user name and per
  client address over ``AUTH_BASIC_FAILURE_WINDOW`` seconds; at ``AUTH_BASIC_MAX_FAILURES`` either
  counter answers 429 with ``Retry-After`` before any password is checked, on every host alike.
"""

from __future__ import annotations

import hashlib
import logging

import redis
from flask import request

from ..core import scripts
from ..mount import current, settings

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def trusted_origins() -> frozenset[str]:
    raw = settings().get("TRUSTED_ORIGINS") or ""
    return frozenset(part.strip().rstrip("/").lower() for part in raw.split(",") if part.strip())


def cross_site_refusal() -> str | None:
    """Why this request is refused as coming from another site, or None when it may go on."""
    if request.method in SAFE_METHODS:
        return None
    site = request.headers.get("Sec-Fetch-Site", "").strip().lower()
    origin = request.headers.get("Origin", "").strip().rstrip("/").lower()
    if site in ("same-origin", "none"):
        return None
    if site == "cross-site":
        return "cross-site"
    if site == "same-site":
        return None if origin and origin in trusted_origins() else "same-site"
    if not origin:
        return None
    own = request.host_url.rstrip("/").lower()
    if origin == own or origin in trusted_origins():
        return None
    return "cross-origin"


# KEYS: per-user counter, per-address counter. ARGV: window ms. Counts one failure on both.
FAIL = scripts.register(
    "auth.fail",
    """
for i = 1, 2 do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
end
return 1
""",
)


def _keys(name: str) -> list[str]:
    prefix = settings()["TASKDECK_KEY_PREFIX"]
    user = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    address = request.remote_addr or "unknown"
    return [f"{prefix}auth:failures:user:{user}", f"{prefix}auth:failures:addr:{address}"]


def _client() -> redis.Redis:
    return current().redis


def blocked_for(name: str) -> int:
    """Seconds until ``name`` (or this address) may try again; 0 when it may now."""
    limit = int(settings()["AUTH_BASIC_MAX_FAILURES"])
    if limit <= 0:
        return 0
    keys = _keys(name)
    try:
        with _client().pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.get(key)
                pipe.pttl(key)
            user_count, user_ttl, addr_count, addr_ttl = pipe.execute()
    except redis.exceptions.RedisError as exc:  # no limiter without Redis: the password check still applies
        log.warning("sign-in attempts not limited: Redis is unreachable (%s)", exc)
        return 0
    waits = [
        ttl for count, ttl in ((user_count, user_ttl), (addr_count, addr_ttl)) if int(count or 0) >= limit
    ]
    return max((max(int(ttl), 1000) // 1000 for ttl in waits), default=0)


def count_failure(name: str) -> None:
    if int(settings()["AUTH_BASIC_MAX_FAILURES"]) <= 0:
        return
    window_ms = int(float(settings()["AUTH_BASIC_FAILURE_WINDOW"]) * 1000)
    try:
        FAIL(_client(), keys=_keys(name), args=[max(window_ms, 1000)])
    except redis.exceptions.RedisError as exc:
        log.warning("a failed sign-in was not counted: Redis is unreachable (%s)", exc)
