"""Control commands sent to workers: the fixed list, their validated arguments, and their replies.

Each command is sent with ``reply=True`` (except shutdown, whose workers do not reply) and then
drops the cached inspect answers it changes, so the next poll shows its effect.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import redis
from celery import Celery
from flask_babel import lazy_gettext as _l

from ..core.errors import Unprocessable
from ..core.inspect import invalidate
from . import keys
from .replies import as_text
from .service import check_hostname


@dataclass(frozen=True)
class Argument:
    """One argument of a control command: its type, bounds and the label shown with refusals."""

    name: str
    type: type
    label: str
    required: bool = True
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    pattern: str | None = None

    @property
    def input_type(self) -> str:
        return "number" if self.type in (int, float) else "text"

    @property
    def step(self) -> str:
        return "1" if self.type is int else "any"

    def parse(self, raw: Any) -> Any:
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            if self.required:
                raise Unprocessable(_l("%(field)s is required", field=self.label), field=self.name)
            return None
        if isinstance(raw, bool):
            raise Unprocessable(_type_message(self.type, self.label), field=self.name)
        try:
            value = self.type(raw.strip() if isinstance(raw, str) else raw)
        except (TypeError, ValueError):
            raise Unprocessable(_type_message(self.type, self.label), field=self.name) from None
        if self.type is int and isinstance(raw, float) and raw != int(raw):
            raise Unprocessable(_type_message(int, self.label), field=self.name)
        if self.minimum is not None and value < self.minimum:
            raise Unprocessable(
                _l("%(field)s must be at least %(low)s", field=self.label, low=f"{self.minimum:g}"),
                field=self.name,
            )
        if self.maximum is not None and value > self.maximum:
            raise Unprocessable(
                _l("%(field)s must be at most %(high)s", field=self.label, high=f"{self.maximum:g}"),
                field=self.name,
            )
        if self.choices and value not in self.choices:
            raise Unprocessable(
                _l("%(field)s must be one of %(choices)s", field=self.label, choices=", ".join(self.choices)),
                field=self.name,
            )
        if self.type is str and (
            len(value) > 255 or (self.pattern and not re.fullmatch(self.pattern, value))
        ):
            raise Unprocessable(_l("%(field)s is not valid", field=self.label), field=self.name)
        return value


def _type_message(kind: type, label):
    """The refusal "<label> must be a whole number" (or "a number", or "text")."""
    if kind is int:
        return _l("%(field)s must be a whole number", field=label)
    if kind is float:
        return _l("%(field)s must be a number", field=label)
    return _l("%(field)s must be text", field=label)


RATE_PATTERN = r"\d+(\.\d+)?(/[smh])?"
NAME_PATTERN = r"[\w.:\-@/]+"


@dataclass(frozen=True)
class Command:
    """A control command the dashboard may send, with its arguments and who may send it."""

    name: str
    label: str
    role: str
    destructive: bool
    arguments: tuple[Argument, ...] = ()
    invalidates: tuple[str, ...] = ()
    expects_reply: bool = True

    def parse(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        known = {arg.name for arg in self.arguments}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise Unprocessable(
                _l("unknown argument '%(name)s' for %(command)s", name=unknown[0], command=self.name),
                field=unknown[0],
            )
        values = {arg.name: arg.parse(raw.get(arg.name)) for arg in self.arguments}
        if self.name == "autoscale" and values["min"] > values["max"]:
            raise Unprocessable(_l("minimum must not exceed maximum"), field="min")
        if self.name == "time_limit" and values["soft"] is None and values["hard"] is None:
            raise Unprocessable(_l("give a soft or a hard time limit"), field="soft")
        return {k: v for k, v in values.items() if v is not None}


_N = Argument("n", int, _l("Processes"), minimum=1, maximum=64)
_TASK = Argument("task_name", str, _l("Task name"), pattern=NAME_PATTERN)
_QUEUE = Argument("queue", str, _l("Queue"), pattern=NAME_PATTERN)
_TASK_ID = Argument("task_id", str, _l("Task id"), pattern=NAME_PATTERN)

COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command(
            "add_consumer",
            _l("Resume queue (add consumer)"),
            "operator",
            False,
            (_QUEUE,),
            ("active_queues",),
        ),
        Command(
            "cancel_consumer",
            _l("Pause queue (cancel consumer)"),
            "operator",
            True,
            (_QUEUE,),
            ("active_queues",),
        ),
        Command(
            "rate_limit",
            _l("Set rate limit"),
            "operator",
            False,
            (_TASK, Argument("rate_limit", str, _l("Rate limit"), pattern=RATE_PATTERN)),
            ("registered",),
        ),
        Command(
            "revoke",
            _l("Revoke task"),
            "operator",
            True,
            (_TASK_ID,),
            ("active", "reserved", "scheduled", "revoked"),
        ),
        Command(
            "terminate",
            _l("Terminate task"),
            "operator",
            True,
            (
                _TASK_ID,
                Argument(
                    "signal", str, _l("Signal"), required=False, choices=("SIGTERM", "SIGKILL", "SIGINT")
                ),
            ),
            ("active", "reserved", "revoked"),
        ),
        Command("pool_grow", _l("Grow pool"), "admin", False, (_N,), ("stats",)),
        Command("pool_shrink", _l("Shrink pool"), "admin", True, (_N,), ("stats",)),
        Command(
            "autoscale",
            _l("Set autoscale"),
            "admin",
            False,
            (
                Argument("max", int, _l("Maximum"), minimum=1, maximum=256),
                Argument("min", int, _l("Minimum"), minimum=0),
            ),
            ("stats",),
        ),
        Command(
            "time_limit",
            _l("Set time limits"),
            "admin",
            False,
            (
                _TASK,
                Argument("soft", float, _l("Soft limit (s)"), required=False, minimum=0),
                Argument("hard", float, _l("Hard limit (s)"), required=False, minimum=0),
            ),
            ("registered",),
        ),
        Command("pool_restart", _l("Restart pool"), "admin", True, (), ("stats", "active")),
        Command("shutdown", _l("Shut down"), "admin", True, (), ("ping", "stats"), expects_reply=False),
    )
}


def require_command(name: str) -> Command:
    """The command ``name`` from the fixed list; refused when there is none of that name."""
    command = COMMANDS.get(name)
    if command is None:
        raise Unprocessable(_l("unknown control command '%(name)s'", name=name), field="command")
    return command


@dataclass(frozen=True)
class ControlReply:
    """One worker's answer to a control command."""

    hostname: str
    ok: bool
    message: str

    @classmethod
    def from_reply(cls, hostname: str, reply: Any) -> ControlReply:
        if isinstance(reply, dict) and "ok" in reply:
            return cls(hostname, True, str(reply["ok"]))
        if isinstance(reply, dict) and "error" in reply:
            return cls(hostname, False, str(reply["error"]))
        return cls(hostname, True, as_text(reply))


@dataclass(frozen=True)
class ControlResult:
    """What was sent to whom, and every reply."""

    command: str
    label: str
    destination: str  # a hostname or "*"
    arguments: dict[str, Any]
    replies: list[ControlReply]
    expects_reply: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def send_control(
    client: redis.Redis,
    prefix: str,
    celery_app: Celery,
    command_name: str,
    raw_arguments: Mapping[str, Any],
    hostname: str,
    *,
    timeout: float,
) -> ControlResult:
    """Validate and send one control command with ``reply=True``; replies by worker."""
    command = require_command(command_name)
    destination = check_hostname(hostname, allow_all=True)
    arguments = command.parse(raw_arguments)
    celery_name, celery_args = command.name, dict(arguments)
    if command.name == "terminate":
        celery_name = "revoke"
        celery_args = {
            "task_id": arguments["task_id"],
            "terminate": True,
            "signal": arguments.get("signal", "SIGTERM"),
        }
    elif command.name == "revoke":
        celery_args = {"task_id": arguments["task_id"], "terminate": False}
    elif command.name == "time_limit":
        celery_args.setdefault("soft", None)
        celery_args.setdefault("hard", None)
    replies = celery_app.control.broadcast(
        celery_name,
        arguments=celery_args,
        destination=[destination] if destination else None,
        reply=command.expects_reply,
        timeout=timeout,
    )
    parsed = []
    for item in replies or []:
        for host, reply in item.items():
            parsed.append(ControlReply.from_reply(host, reply))
    _remember_paused(client, prefix, command.name, arguments, parsed)
    invalidate(client, prefix, command.invalidates, destination)
    return ControlResult(
        command.name,
        str(command.label),
        hostname,
        arguments,
        sorted(parsed, key=lambda r: r.hostname),
        command.expects_reply,
    )


def _remember_paused(
    client: redis.Redis, prefix: str, command: str, arguments: dict[str, Any], replies: list[ControlReply]
) -> None:
    """Note queues paused on a worker so its page can offer to resume them."""
    if command not in ("cancel_consumer", "add_consumer"):
        return
    for reply in replies:
        if not reply.ok:
            continue
        key = keys.paused_key(prefix, reply.hostname)
        if command == "cancel_consumer":
            client.sadd(key, arguments["queue"])
        else:
            client.srem(key, arguments["queue"])


def paused_queues(client: redis.Redis, prefix: str, hostname: str) -> list[str]:
    """Queues paused on ``hostname`` from this dashboard and not resumed since."""
    return sorted(q.decode() for q in client.smembers(keys.paused_key(prefix, hostname)))
