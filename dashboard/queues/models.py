"""Typed views of what sits in the broker: decoded messages, queue summaries, pages.

Decoding never unpickles or evaluates anything: the envelope and a JSON body are parsed as JSON,
with nesting bounded (another producer may push anything); anything else (pickle, yaml, msgpack,
compressed, corrupt, nested too deep) is reported as not decodable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import asdict, dataclass, field

from flask_babel import lazy_gettext as _l

from ..core.errors import reason
from ..core.json_text import NestedTooDeep, decode_bounded
from ..i18n import in_english

TEXT_LIMIT = 2000  # characters kept of argsrepr/kwargsrepr/body text; the page shows less


def _text(value: object, limit: int = TEXT_LIMIT) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _int(value: object) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _json_body(envelope: dict) -> object:
    """The body as JSON when it says it is JSON; raises ValueError (with a lazy message) otherwise."""
    if envelope.get("content-encoding") not in (None, "utf-8", "utf8", "binary"):
        raise ValueError(_l("unknown content encoding"))
    if envelope.get("content-type") != "application/json":
        content_type = envelope.get("content-type")
        if not content_type:
            raise ValueError(_l("a body of unknown content type is not decoded"))
        raise ValueError(_l("%(content_type)s body is not decoded", content_type=content_type))
    body = envelope.get("body")
    properties = envelope.get("properties") or {}
    if properties.get("body_encoding") == "base64":
        try:
            body = base64.b64decode(body or "", validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, TypeError) as exc:
            raise ValueError(_l("body is not valid base64 UTF-8")) from exc
    if not isinstance(body, str):
        raise ValueError(_l("body is not text"))
    return _decode(body)


TOO_DEEP = _l("cannot be decoded: nested too deep")


def _decode(text: str | bytes) -> object:
    """JSON from another producer, nesting bounded: ValueError (a lazy message) when too deep, where
    Python's json would raise RecursionError (a message pushed by raw LPUSH or ``send_task``)."""
    try:
        return decode_bounded(text, "message")
    except NestedTooDeep:
        raise ValueError(TOO_DEEP) from None


@dataclass(frozen=True)
class QueueMessage:
    """One waiting message, as decoded from its raw bytes in a broker list."""

    position: int  # 0 = next to run
    priority_step: int  # the sub-list it waits in
    raw_size: int
    sha1: str  # of the raw bytes: identifies it even when it cannot be decoded
    decoded: bool
    problem: object = None  # why (part of) it could not be decoded: a lazy message (see below)
    task: str | None = None
    task_id: str | None = None
    argsrepr: str | None = None
    kwargsrepr: str | None = None
    eta: str | None = None
    expires: str | None = None
    retries: int | None = None
    priority: int | None = None
    parent_id: str | None = None
    root_id: str | None = None
    content_type: str | None = None
    protocol: int | None = None
    sent_at: float | None = None  # only when the producer stamped a timestamp

    @classmethod
    def from_raw(cls, raw: bytes, *, position: int, priority_step: int) -> QueueMessage:
        """Decode a kombu/Celery message without unpickling or evaluating it."""
        base = {
            "position": position,
            "priority_step": priority_step,
            "raw_size": len(raw),
            "sha1": hashlib.sha1(raw).hexdigest(),  # noqa: S324 - an identity, not security
        }
        try:
            envelope = _decode(raw)
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            problem = TOO_DEEP if reason(exc) is TOO_DEEP else _l("not a JSON envelope")
            return cls(decoded=False, problem=problem, **base)
        if not isinstance(envelope, dict):
            return cls(decoded=False, problem=_l("not a JSON envelope"), **base)
        headers = envelope.get("headers") if isinstance(envelope.get("headers"), dict) else {}
        properties = envelope.get("properties") if isinstance(envelope.get("properties"), dict) else {}
        common = {
            "content_type": _text(envelope.get("content-type"), 100),
            "priority": _int(properties.get("priority")),
            "sent_at": _timestamp(headers.get("timestamp", properties.get("timestamp"))),
        }
        if headers.get("task") and headers.get("id"):
            return cls._protocol_2(envelope, headers, base, common)
        try:
            body = _json_body(envelope)
        except ValueError as exc:
            return cls(decoded=False, problem=reason(exc), **base, **common)
        if isinstance(body, dict) and body.get("task") and body.get("id"):
            return cls(
                decoded=True,
                protocol=1,
                task=_text(body.get("task"), 255),
                task_id=_text(body.get("id"), 255),
                argsrepr=_text(body.get("args")),
                kwargsrepr=_text(body.get("kwargs")),
                eta=_text(body.get("eta"), 64),
                expires=_text(body.get("expires"), 64),
                retries=_int(body.get("retries")),
                **base,
                **common,
            )
        return cls(decoded=False, problem=_l("not a Celery task message"), **base, **common)

    @classmethod
    def _protocol_2(cls, envelope: dict, headers: dict, base: dict, common: dict) -> QueueMessage:
        argsrepr, kwargsrepr = headers.get("argsrepr"), headers.get("kwargsrepr")
        problem = None
        if argsrepr is None or kwargsrepr is None:
            try:
                body = _json_body(envelope)
                if isinstance(body, list) and len(body) >= 2:
                    argsrepr = body[0] if argsrepr is None else argsrepr
                    kwargsrepr = body[1] if kwargsrepr is None else kwargsrepr
            except ValueError as exc:
                problem = reason(exc)
        return cls(
            decoded=True,
            protocol=2,
            problem=problem,
            task=_text(headers.get("task"), 255),
            task_id=_text(headers.get("id"), 255),
            argsrepr=_text(argsrepr),
            kwargsrepr=_text(kwargsrepr),
            eta=_text(headers.get("eta"), 64),
            expires=_text(headers.get("expires"), 64),
            retries=_int(headers.get("retries")),
            parent_id=_text(headers.get("parent_id"), 255),
            root_id=_text(headers.get("root_id"), 255),
            **base,
            **common,
        )

    @property
    def delete_key(self) -> str:
        """What identifies this message for a delete: its task id, or its sha1 when it has none.

        The delete script matches a task id against the decoded headers (protocol 2); anything
        else is matched by its exact bytes.
        """
        if self.protocol == 2 and self.task_id:
            return self.task_id
        return "sha1:" + self.sha1

    @property
    def problem_text(self) -> str | None:
        """``problem`` in the current language, as plain text (templates escape it)."""
        return None if self.problem is None else str(self.problem)

    def to_json(self) -> dict:
        """The API's view: ``problem`` in English, like every API message."""
        data = asdict(self)
        data["problem"] = None if self.problem is None else in_english(self.problem)
        data["delete_key"] = self.delete_key
        return data


def _timestamp(value: object) -> float | None:
    try:
        number = float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
    return number if number and number > 0 else None


@dataclass(frozen=True)
class QueueSummary:
    """One queue on the index page."""

    name: str
    length: int
    lengths: dict[int, int]  # priority step -> messages waiting in that sub-list
    sources: tuple[str, ...]  # where the queue is known from: bindings, config, workers
    consumers: tuple[str, ...]
    oldest_age: float | None  # seconds; None when it cannot be known
    oldest_age_source: str | None  # "message" (a producer timestamp) or "history" (sent event)

    def to_json(self) -> dict:
        data = asdict(self)
        data["lengths"] = {str(k): v for k, v in self.lengths.items()}
        return data


@dataclass(frozen=True)
class MessagePage:
    """One page of a queue's waiting messages, next to run first."""

    queue: str
    total: int
    lengths: dict[int, int]
    start: int  # position of the first message on this page
    limit: int
    messages: list[QueueMessage] = field(default_factory=list)
    next_cursor: str | None = None

    @property
    def end(self) -> int:
        return self.start + len(self.messages)

    @property
    def previous_start(self) -> int | None:
        return max(0, self.start - self.limit) if self.start > 0 else None

    def to_json(self) -> dict:
        return {
            "queue": self.queue,
            "total": self.total,
            "lengths": {str(k): v for k, v in self.lengths.items()},
            "position": self.start,
            "limit": self.limit,
            "messages": [message.to_json() for message in self.messages],
            "next_cursor": self.next_cursor,
        }


@dataclass(frozen=True)
class HeldMessage:
    """A message a worker has taken from the queue but not yet acknowledged."""

    message: QueueMessage
    worker: str | None  # from inspect, when a worker reported it
    state: str  # "reserved", "scheduled" (ETA/countdown) or "unacknowledged"
    held_since: float | None  # epoch seconds from kombu's unacked index
    exchange: str | None = None
    routing_key: str | None = None
    eta: str | None = None

    @classmethod
    def from_unacked(cls, raw_entry: bytes, held_since: float | None) -> HeldMessage:
        """From a value of kombu's ``unacked`` hash: JSON ``[message, exchange, routing_key]``."""
        exchange = routing_key = None
        try:
            entry = _decode(raw_entry)
            message = json.dumps(entry[0]).encode()
            exchange, routing_key = _text(entry[1], 255), _text(entry[2], 255)
        except (ValueError, TypeError, IndexError, KeyError, UnicodeDecodeError):
            message = raw_entry
        decoded = QueueMessage.from_raw(message, position=-1, priority_step=0)
        return cls(
            message=decoded,
            worker=None,
            state="unacknowledged",
            held_since=held_since,
            exchange=exchange,
            routing_key=routing_key,
        )

    def to_json(self) -> dict:
        return {
            "message": self.message.to_json(),
            "worker": self.worker,
            "state": self.state,
            "held_since": self.held_since,
            "eta": self.eta,
        }


@dataclass(frozen=True)
class InspectedRequest:
    """A task request a worker reported via ``inspect().reserved()`` or ``scheduled()``."""

    worker: str
    state: str
    task_id: str | None
    name: str | None
    routing_key: str | None
    exchange: str | None
    argsrepr: str | None
    eta: str | None

    @classmethod
    def from_reply(cls, worker: str, state: str, item: dict) -> InspectedRequest:
        eta = None
        if state == "scheduled":  # {"eta": ..., "priority": ..., "request": {...}}
            eta = _text(item.get("eta"), 64)
            item = item.get("request") or {}
        delivery = item.get("delivery_info") or {}
        return cls(
            worker=worker,
            state=state,
            task_id=_text(item.get("id"), 255),
            name=_text(item.get("name") or item.get("type"), 255),
            routing_key=_text(delivery.get("routing_key"), 255),
            exchange=_text(delivery.get("exchange"), 255),
            argsrepr=_text(item.get("args")),
            eta=eta,
        )


# What staging can carry of a message: task, id, args, kwargs, queue, priority, eta, expires.
WORKFLOW_LINKS = ("callbacks", "errbacks", "chain", "chord")


@dataclass(frozen=True)
class StageableMessage:
    """A waiting protocol-2 task message, decoded fully (JSON only) to become a staging item."""

    task_id: str
    task: str
    args: list
    kwargs: dict
    priority: int | None
    eta: str | None
    expires: str | None

    @classmethod
    def from_raw(cls, raw: bytes) -> StageableMessage:
        """Decode without unpickling anything; ValueError (a lazy message) says why it cannot be moved.

        Refused: anything but a Celery protocol-2 message with a JSON body, and messages whose
        behaviour the staging list cannot keep (workflow links, group membership, per-call time
        limits, a shadow name), so a move never silently changes what would run.
        """
        try:
            envelope = _decode(raw)
        except ValueError as exc:
            raise ValueError(_l("not a JSON message envelope")) from exc
        headers = envelope.get("headers") if isinstance(envelope, dict) else None
        if not isinstance(headers, dict) or not headers.get("task") or not headers.get("id"):
            raise ValueError(_l("only Celery protocol-2 task messages can be moved"))
        body = _json_body(envelope)  # ValueError for pickle, yaml, compressed, corrupt bodies
        if not (isinstance(body, list) and len(body) == 3):
            raise ValueError(_l("the message body is not [args, kwargs, embed]"))
        args, kwargs, embed = body
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise ValueError(_l("the message's args/kwargs are not a list and an object"))
        embed = embed if isinstance(embed, dict) else {}
        linked = [name for name in WORKFLOW_LINKS if embed.get(name)]
        if linked:
            raise ValueError(
                _l(
                    "it is part of a workflow (%(links)s) that staging would not keep",
                    links=", ".join(linked),
                )
            )
        if headers.get("group"):
            raise ValueError(_l("it is a member of a group that staging would not keep"))
        if any(limit is not None for limit in (headers.get("timelimit") or ())):
            raise ValueError(_l("it has per-call time limits that staging would not keep"))
        if headers.get("shadow"):
            raise ValueError(_l("it has a shadow name that staging would not keep"))
        properties = envelope.get("properties") if isinstance(envelope.get("properties"), dict) else {}
        return cls(
            task_id=str(headers["id"]),
            task=str(headers["task"]),
            args=args,
            kwargs=kwargs,
            priority=_int(properties.get("priority")),
            eta=headers.get("eta") if isinstance(headers.get("eta"), str) else None,
            expires=headers.get("expires") if isinstance(headers.get("expires"), str) else None,
        )

    def item_data(self, queue: str) -> dict:
        """The message as staging item data (for ``staging.service.build_item``), bound for ``queue``."""
        options = {"queue": queue, "priority": self.priority, "eta": self.eta, "expires": self.expires}
        return {
            "task": self.task,
            "args": self.args,
            "kwargs": self.kwargs,
            "options": {name: value for name, value in options.items() if value is not None},
            "note": f"moved from queue {queue}"[:500],
        }
