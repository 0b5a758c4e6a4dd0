"""Configuration: read once from the environment into ``app.config``.

Every variable is listed, with its default, in the README's configuration table.
Nothing else in the package reads ``os.environ``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

DEFAULT_REDIS_URL = "redis://127.0.0.1:6399/0"
AUTH_MODES = ("none", "basic", "header")
HEADROOM = 64 * 1024  # bytes a request may carry besides its payload (other fields, encoding)


def _flag(raw: str) -> bool:
    return raw.strip().lower() in ("1", "true", "yes", "on")


# name -> (default, parser). A default of None means "derived below" or "unset".
_ENV: dict[str, tuple[object, type]] = {
    "REDIS_URL": (DEFAULT_REDIS_URL, str),
    "REDIS_SENTINEL_MASTER": (None, str),
    "REDIS_SOCKET_TIMEOUT": (0.5, float),
    "CELERY_BROKER_URL": (None, str),
    "CELERY_RESULT_BACKEND": (None, str),
    "DATABASE_URL": (None, str),
    "CELERY_APP": ("celery_app:app", str),
    "FLOWER_URL": (None, str),
    "SECRET_KEY": (None, str),
    "TASKDECK_KEY_PREFIX": ("taskdeck:", str),
    "INSPECT_TIMEOUT": (1.0, float),
    "MAX_PAYLOAD_BYTES": (65536, int),
    "AUTH_MODE": ("none", str),
    "AUTH_BASIC_USERS": ("", str),
    "AUTH_USER_HEADER": ("X-Forwarded-User", str),
    "AUTH_GROUPS_HEADER": ("X-Forwarded-Groups", str),
    "AUTH_GROUP_ROLES": ("", str),
    "AUTH_DEFAULT_ROLE": ("", str),
    # Who may retry a run with changed arguments or options (history): operator or admin.
    "RETRY_WITH_CHANGES_ROLE": ("admin", str),
    "AUTH_TRUSTED_PROXIES": ("127.0.0.1,::1", str),
    "AUTH_BASIC_MAX_FAILURES": (10, int),
    "AUTH_BASIC_FAILURE_WINDOW": (300.0, float),
    "TRUSTED_ORIGINS": ("", str),
    "PROXY_FIX_COUNT": (0, int),
    "FRAME_ANCESTORS": ("'self'", str),
    "EMBED": (False, _flag),
    "AUDIT_RETENTION_DAYS": (90, int),
    "SESSION_COOKIE_SAMESITE": ("Lax", str),
    "SESSION_COOKIE_SECURE": (False, _flag),
    "HISTORY_RETENTION_DAYS": (30, int),
    "HISTORY_BATCH_SIZE": (1000, int),
    "HISTORY_FLUSH_SECONDS": (0.2, float),
    "HISTORY_PROGRESS_SECONDS": (1.0, float),
    "HISTORY_RECONCILE_SECONDS": (30.0, float),
    "HISTORY_LOST_AFTER_SECONDS": (3600.0, float),
    "HISTORY_FULL_SCAN_SECONDS": (600.0, float),
    "SCHEDULE_MISSED_GRACE": (300.0, float),
    "SCHEDULE_LOCK_TTL": (None, float),
    "WORKERS_CACHE_SECONDS": (2.0, float),
    "WORKERS_OFFLINE_AFTER": (60.0, float),
    "WORKERS_FORGET_AFTER": (3600.0, float),
}


def _instance_secret_key(instance_path: Path) -> str:
    """Return the key kept in ``instance/secret_key``, creating it on first use."""
    key_file = instance_path / "secret_key"
    try:
        return key_file.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_hex(32)
    # O_EXCL: when several gunicorn workers start at once, one writes and the others read.
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_file.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def load(environ: dict[str, str] | None = None) -> dict[str, object]:
    """Build the configuration mapping from environment variables."""
    environ = os.environ if environ is None else environ
    config: dict[str, object] = {}
    for name, (default, parse) in _ENV.items():
        raw = environ.get(name)
        config[name] = parse(raw) if raw not in (None, "") else default
    return config


def finish(config, instance_path: Path, *, database_name: str = "taskdeck", standalone: bool = True) -> None:
    """Fill values derived from others, after overrides have been applied.

    The default database is ``instance/<mount name>.db`` (``taskdeck.db`` for the first mount), so
    two mounts in one host never share tables by accident. ``SECRET_KEY`` is the standalone app's
    only: a host's own applies to its mounts.
    """
    instance_path.mkdir(parents=True, exist_ok=True)
    if standalone and not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = _instance_secret_key(instance_path)
    if not config.get("DATABASE_URL"):
        config["DATABASE_URL"] = f"sqlite:///{instance_path / f'{database_name}.db'}"
    # A dashboard tab stays open for hours: the CSRF token must not expire under it (the forms'
    # and the route check's lifetime, dashboard/csrf.py).
    # Flask answers 413 before reading a larger body. A form url-encodes its JSON fields (up to
    # three bytes per byte of arguments) and carries other fields: 4 x the payload limit, plus
    # 64 KiB. A schedules import holds many schedules: its two routes allow 16 x instead (see
    # schedules/api_views.py). An explicit MAX_CONTENT_LENGTH wins over both.
    payload = int(config["MAX_PAYLOAD_BYTES"])
    if config.get("MAX_CONTENT_LENGTH") is None:
        config["MAX_CONTENT_LENGTH"] = 4 * payload + HEADROOM
    config.setdefault("IMPORT_MAX_CONTENT_LENGTH", max(16 * payload + HEADROOM, config["MAX_CONTENT_LENGTH"]))
    config["CELERY_BROKER_URL"] = config.get("CELERY_BROKER_URL") or config["REDIS_URL"]
    config["CELERY_RESULT_BACKEND"] = config.get("CELERY_RESULT_BACKEND") or config["REDIS_URL"]


def validate(config) -> None:
    """Refuse a configuration that cannot work, at start-up rather than on the first request."""
    from .portal.service import parse_basic_users, parse_group_roles, parse_networks

    if config["AUTH_MODE"] not in AUTH_MODES:
        raise ValueError(f"AUTH_MODE must be one of {AUTH_MODES}, not {config['AUTH_MODE']!r}")
    if config["AUTH_MODE"] == "basic" and not parse_basic_users(config["AUTH_BASIC_USERS"]):
        raise ValueError("AUTH_MODE=basic needs at least one user in AUTH_BASIC_USERS")
    parse_group_roles(config["AUTH_GROUP_ROLES"])
    parse_networks(config["AUTH_TRUSTED_PROXIES"])
    if config["AUTH_DEFAULT_ROLE"] not in ("", "viewer", "operator", "admin"):
        raise ValueError("AUTH_DEFAULT_ROLE must be empty, viewer, operator or admin")
    if config["RETRY_WITH_CHANGES_ROLE"] not in ("operator", "admin"):
        raise ValueError("RETRY_WITH_CHANGES_ROLE must be operator or admin")
