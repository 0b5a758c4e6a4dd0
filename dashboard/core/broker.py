"""The managed app's Redis broker in one place: clients, key layout, configured queues, same-server test.

Clients: one pooled client per URL per process (``client_for``), for the dashboard's own Redis and
for the broker alike, so a page, a scrape or a release never opens a pool of its own. URLs may be
``redis://``, ``rediss://`` (TLS; ``?ssl_cert_reqs=...`` etc. as redis-py reads them), ``unix://``
or, for Redis Sentinel, kombu's form ``sentinel://[:password@]host:port/db`` with several sentinels
joined by ``;`` and the master's name given apart.

The key layout lives in :mod:`.broker_layout` and is re-exported here.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qs, urlsplit

import redis
from celery import Celery
from flask_babel import lazy_gettext as _l
from redis.sentinel import Sentinel

from .broker_layout import (  # noqa: F401 - the layout is part of this module's interface
    BrokerLayout,
    bindings,
    is_internal_exchange,
    layout_for,
    queue_depths,
    queue_keys,
    waiting,
)
from .errors import DashboardError

# Seconds a client waits to connect, and for any reply. Pages poll every few seconds and a hung Redis
# (stopped, failing over, behind a dead NAT entry) accepts commands without answering them: a read
# timeout well under a second lets the page say "unreachable" instead of holding a web worker.
# ``socket_timeout`` is REDIS_SOCKET_TIMEOUT; the app factory passes the configured value.
TIMEOUTS = {"socket_connect_timeout": 1.0, "socket_timeout": 0.5}
REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "sentinel://")
DEFAULT_PORT = 6379
DEFAULT_SENTINEL_PORT = 26379

_clients: dict[tuple[str, str | None, float], redis.Redis] = {}
_clients_lock = threading.Lock()


# --- clients -------------------------------------------------------------------------------------


def timeouts(socket_timeout: float | None = None) -> dict[str, float]:
    """Client timeouts: :data:`TIMEOUTS`, with ``socket_timeout`` (REDIS_SOCKET_TIMEOUT) when given."""
    if socket_timeout is None:
        return dict(TIMEOUTS)
    return {**TIMEOUTS, "socket_timeout": float(socket_timeout)}


def connect(url: str, sentinel_master: str | None = None, socket_timeout: float | None = None) -> redis.Redis:
    """A new client that fails within a second instead of hanging when Redis is away or hung.

    redis-py does not retry a timed-out command for a client built on a URL (its pool's connections
    retry nothing), so a page waits one ``socket_timeout`` per command at most.
    """
    limits = timeouts(socket_timeout)
    if url.startswith("sentinel://"):
        return _sentinel_master(url, sentinel_master, limits)
    return redis.Redis.from_url(url, health_check_interval=30, **limits)


def _sentinel_master(url: str, master: str | None, limits: dict[str, float]) -> redis.Redis:
    if not master:
        raise ValueError("a sentinel:// URL needs the monitored master's name (REDIS_SENTINEL_MASTER)")
    nodes, password, db = [], None, 0
    for part in url.split(";"):
        parsed = urlsplit(part.strip())
        nodes.append((parsed.hostname or "127.0.0.1", parsed.port or DEFAULT_SENTINEL_PORT))
        password = password or parsed.password
        if parsed.path.strip("/").isdigit():
            db = int(parsed.path.strip("/"))
    sentinel = Sentinel(nodes, sentinel_kwargs={**limits, "password": password}, **limits)
    return sentinel.master_for(master, db=db, password=password)


def client_for(
    url: str, sentinel_master: str | None = None, socket_timeout: float | None = None
) -> redis.Redis:
    """The process's one client for ``url`` (built on first use; redis-py's pool survives a fork).

    ``socket_timeout`` is the read timeout (REDIS_SOCKET_TIMEOUT; :data:`TIMEOUTS` when None).
    """
    read_timeout = timeouts(socket_timeout)["socket_timeout"]
    key = (url, sentinel_master if url.startswith("sentinel://") else None, read_timeout)
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = connect(*key)
    return client


def broker_url(celery_app: Celery) -> str:
    """The broker URL the app's workers use (the first of a failover list)."""
    url = celery_app.conf.broker_url or ""
    if isinstance(url, list | tuple):
        url = url[0] if url else ""
    if not url.startswith("sentinel://"):
        url = url.split(";", 1)[0].strip()  # sentinel joins its nodes with ';', failover lists too
    return url


def broker_master(celery_app: Celery, sentinel_master: str | None = None) -> str | None:
    """The Sentinel master the broker is reached through: the app's ``master_name`` or the default."""
    options = celery_app.conf.broker_transport_options or {}
    return options.get("master_name") or sentinel_master


def broker_for(celery_app: Celery, sentinel_master: str | None = None) -> redis.Redis:
    """The process's client for the app's Redis broker; refuses a broker that is not Redis.

    It reads with the app's own transport ``socket_timeout`` (what ``celery_link.load_celery_app`` set).
    """
    url = broker_url(celery_app)
    if not url.startswith(REDIS_SCHEMES):
        raise DashboardError(_l("queue contents need a redis://, rediss:// or unix:// broker URL"))
    socket_timeout = (celery_app.conf.broker_transport_options or {}).get("socket_timeout")
    return client_for(url, broker_master(celery_app, sentinel_master), socket_timeout)


# --- same server ---------------------------------------------------------------------------------


def _db(parts, from_path: bool) -> int:
    # redis-py reads ``?db=`` first and falls back to the path (never the path for unix://)
    given = parse_qs(parts.query).get("db", [""])[0]
    if not given and from_path:
        given = parts.path.strip("/")
    return int(given) if given.isdigit() else 0


def _location(url: str, master: str | None = None) -> tuple | None:
    """What identifies the server and database ``url`` names, or None when it is not Redis."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme == "unix":
        return ("unix", os.path.normpath(parts.path), _db(parts, from_path=False))
    if scheme in ("redis", "rediss"):
        return ("tcp", (parts.hostname or "localhost").lower(), parts.port or DEFAULT_PORT, _db(parts, True))
    if scheme == "sentinel":
        nodes, db = set(), 0
        for node in url.split(";"):
            node_parts = urlsplit(node.strip())
            nodes.add(
                ((node_parts.hostname or "127.0.0.1").lower(), node_parts.port or DEFAULT_SENTINEL_PORT)
            )
            db = _db(node_parts, True) or db
        return ("sentinel", frozenset(nodes), master, db)
    return None


def same_server(url_a: str, url_b: str, master_a: str | None = None, master_b: str | None = None) -> bool:
    """True when both URLs reach the same Redis server and database.

    Credentials, TLS and option differences do not matter; host names are compared as written
    (``localhost`` is not ``127.0.0.1``), so an unsure answer is "no", which is always safe: the
    cross-server paths work on one server too, only without one atomic script. Sentinel URLs
    match when they list the same sentinels, master name (``master_*``) and database.
    """
    location = _location(url_a, master_a)
    return location is not None and location == _location(url_b, master_b)


# --- configured queues ---------------------------------------------------------------------------


def _queue_name(queue: object) -> str | None:
    name = getattr(queue, "name", queue)
    return str(name) if name else None


def _route_targets(routes: object) -> Iterable[object]:
    """Every route value in ``task_routes`` (a mapping, a list of mappings or of (glob, route) pairs)."""
    for route in routes if isinstance(routes, list | tuple) else [routes]:
        if isinstance(route, Mapping):
            yield from route.values()
        elif isinstance(route, list | tuple):
            for pair in route:
                if isinstance(pair, list | tuple) and len(pair) == 2:
                    yield pair[1]


def configured_queues(celery_app: Celery) -> list[str]:
    """Queues named in the app's configuration, default queue first: task_default_queue,
    task_queues, task_routes and each task's own ``queue`` attribute."""
    conf = celery_app.conf
    names = [conf.task_default_queue or "celery"]
    queues = conf.task_queues or ()
    names += list(queues) if isinstance(queues, Mapping) else [_queue_name(queue) for queue in queues]
    for target in _route_targets(conf.task_routes):
        if isinstance(target, Mapping):
            names.append(_queue_name(target.get("queue")))
        elif isinstance(target, str):
            names.append(target)  # Celery reads a bare string route as the queue's name
    celery_app.loader.import_default_modules()
    for task in list(celery_app.tasks.values()):
        names.append(_queue_name(getattr(task, "queue", None)))
    present = [str(name) for name in names if name]
    return [present[0], *sorted(set(present) - {present[0]})]


def known_queues(celery_app: Celery, consumed: Iterable[str] = ()) -> list[str]:
    """Every queue a run may target: configured ones plus those live workers consume."""
    return sorted(set(configured_queues(celery_app)) | set(consumed))


def default_route(
    celery_app: Celery, name: str, args: tuple | list = (), kwargs: dict | None = None
) -> tuple[str | None, str | None]:
    """Queue and routing key Celery picks for task ``name`` when no queue is given (task_routes,
    task.queue, task_default_queue), as ``send_task`` would route it with these arguments."""
    try:
        route = celery_app.amqp.router.route({}, name, tuple(args), dict(kwargs or {}))
    except Exception:  # a custom router may choke on the arguments
        return celery_app.conf.task_default_queue, None
    queue = route.get("queue")
    if queue is None:
        return celery_app.conf.task_default_queue, route.get("routing_key")
    return _queue_name(queue), route.get("routing_key") or getattr(queue, "routing_key", None) or None
