"""JSON from operators: one decoder for every input that arrives as text, one check for decoded values.

Python's ``json`` accepts NaN and Infinity (and reads ``1e400`` as infinity), which no JSON
reader elsewhere understands, and it recurses once per nesting level, so a few kilobytes of
``[[[[...`` end in RecursionError while decoding, re-encoding or comparing. Nesting is
therefore bounded before the text is parsed, by a scan that does not recurse.
"""

from __future__ import annotations

import json
import math
import re

from flask_babel import lazy_gettext as _l

from .errors import Unprocessable, reason

# How deep arguments may nest: far more than any task's arguments need, far less than the
# interpreter's recursion limit (about 1000 frames) that json, pickle and comparisons run into.
MAX_JSON_DEPTH = 32
# How deep JSON written by other code may nest: a message or a stored item wraps arguments of up to
# MAX_JSON_DEPTH levels in a few levels of its own.
MAX_FOREIGN_DEPTH = 64

# A JSON string (possibly unterminated), with the colon that makes it an object key, or a bracket.
_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)("?)(\s*:)?|[\[\]{}]', re.DOTALL)
# The escape of a UTF-16 surrogate: only text holding one can decode to a lone surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class MalformedJSON(Unprocessable):
    """A field that should hold JSON does not parse, or holds NaN/Infinity."""


class NestedTooDeep(Unprocessable):
    """JSON nested deeper than MAX_JSON_DEPTH levels."""


class LoneSurrogate(Unprocessable):
    """A string (key or value) holding half of a UTF-16 pair: valid JSON, but no Unicode text."""


class _NotFinite(ValueError):
    """NaN, Infinity or a number too large for a float, met while decoding strict JSON."""


def _too_deep(field: str) -> NestedTooDeep:
    return NestedTooDeep(
        _l("%(field)s is nested deeper than %(limit)s levels", field=field, limit=MAX_JSON_DEPTH), field=field
    )


def _deep_member(text: str, limit: int, members: int) -> tuple[bool, str | None]:
    """Whether ``text`` nests deeper than ``limit`` levels below its ``members`` outer levels, and
    the object key (within those outer levels) under which it does."""
    stack: list[str | None] = []  # per open container: its last key (None for a list or no key yet)
    for match in _TOKEN.finditer(text):
        lexeme = match.group(0)
        if lexeme[0] == '"':
            if not match.group(2):
                break  # unterminated string: json reports it precisely
            if match.group(3) and stack:
                try:
                    stack[-1] = json.loads(f'"{match.group(1)}"')
                except ValueError:
                    stack[-1] = None
        elif lexeme in "[{":
            stack.append(None)
            if len(stack) > limit + members:
                names = [key for key in stack[:members] if key is not None]
                return True, names[-1] if names else None
        elif stack:
            stack.pop()
    return False, None


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _NotFinite(text)
    return number


def _no_constant(text: str):
    raise _NotFinite(text)


def _not_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _lone_surrogate(value: object, members: int) -> tuple[bool, str | None]:
    """Whether a string (key or value) in ``value`` holds a lone surrogate, and the object key
    (within the ``members`` outer levels) under which it does."""
    pending: list[tuple[object, int, str | None]] = [(value, 0, None)]
    while pending:  # a loop, not recursion (the nesting is bounded, but by 32 levels per member)
        item, depth, member = pending.pop()
        if isinstance(item, str):
            if _not_text(item):
                return True, member
        elif isinstance(item, dict):
            for key, child in item.items():
                if _not_text(key):
                    return True, member
                pending.append((child, depth + 1, key if depth < members else member))
        elif isinstance(item, list):
            pending.extend((child, depth + 1, member) for child in item)
    return False, None


def decode_json(text: str | bytes, field: str, *, members: int = 0) -> object:
    """Parse JSON text given for ``field``; refuse it with ``field`` named when it is not strict JSON.

    ``members`` is for a text whose outer levels hold several inputs (1: a request body, an
    object of fields; 2: an import, a list of such objects): each of their values may nest
    MAX_JSON_DEPTH levels, a deeper one is refused naming its key, and NaN/Infinity are left as
    floats for the validation of that input to refuse, since it knows the input's name.

    This is the decoder for operators' JSON, so a string holding a lone surrogate (``"\\ud800"``,
    valid JSON but no Unicode text) is refused (LoneSurrogate, naming the member it is under);
    text that arrives from tasks is not decoded here but stored by ``core.text``'s rule.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedJSON(
                _l(
                    "%(field)s: not valid JSON (%(error)s); write strings in double quotes",
                    field=field,
                    error=str(exc),
                ),
                field=field,
            ) from exc
    too_deep, member = _deep_member(text, MAX_JSON_DEPTH, members)
    if too_deep:
        raise _too_deep(member or field)
    strict = {} if members else {"parse_float": _finite_float, "parse_constant": _no_constant}
    try:
        value = json.loads(text, **strict)
    except _NotFinite as exc:
        raise MalformedJSON(_l("%(field)s: NaN and Infinity are not JSON", field=field), field=field) from exc
    except ValueError as exc:
        raise MalformedJSON(
            _l(
                "%(field)s: not valid JSON (%(error)s); write strings in double quotes",
                field=field,
                error=reason(exc),
            ),
            field=field,
        ) from exc
    if _SURROGATE_ESCAPE.search(text) or _not_text(text):
        lone, member = _lone_surrogate(value, members)
        if lone:
            name = member or field
            raise LoneSurrogate(
                _l(
                    "%(field)s holds a lone surrogate (half of a UTF-16 pair), which is not text",
                    field=name,
                ),
                field=name,
            )
    return value


def decode_bounded(text: str | bytes, field: str) -> object:
    """Parse JSON that other code wrote (a broker message, an item stored before validation):
    only nesting is bounded (NestedTooDeep beyond MAX_FOREIGN_DEPTH, instead of RecursionError);
    NaN and lone surrogates are kept, for ``core.text`` to store and show them safely.
    Raises ValueError (UnicodeDecodeError, JSONDecodeError) for text that is not JSON."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    # No text nests deeper than it has brackets: most messages are not scanned at all.
    brackets = text.count("[") + text.count("{")
    if brackets > MAX_FOREIGN_DEPTH and _deep_member(text, MAX_FOREIGN_DEPTH, 0)[0]:
        raise NestedTooDeep(
            _l("%(field)s is nested deeper than %(limit)s levels", field=field, limit=MAX_FOREIGN_DEPTH),
            field=field,
        )
    return json.loads(text)


def check_json_value(value: object, field: str) -> None:
    """Refuse a decoded value that JSON cannot carry faithfully: NaN/Infinity, nesting deeper than
    MAX_JSON_DEPTH, object keys that are not text, or values that are not JSON at all."""
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:  # a loop, not recursion: the value may come from code, unbounded
        item, depth = pending.pop()
        if isinstance(item, list | dict):
            if depth > MAX_JSON_DEPTH:
                raise _too_deep(field)
            if isinstance(item, dict):
                if not all(isinstance(key, str) for key in item):
                    raise MalformedJSON(_l("%(field)s: object keys must be text", field=field), field=field)
                pending.extend((child, depth + 1) for child in item.values())
            else:
                pending.extend((child, depth + 1) for child in item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise MalformedJSON(_l("%(field)s: NaN and Infinity are not JSON", field=field), field=field)
        elif not (item is None or isinstance(item, str | int)):  # bool is an int
            raise MalformedJSON(
                _l("%(field)s: %(type)s is not a JSON value", field=field, type=type(item).__name__),
                field=field,
            )


def json_size(value: object) -> int:
    """Bytes of ``value`` as JSON text (for a value that passed ``check_json_value``)."""
    return len(json.dumps(value).encode())
