"""The one rule for storing text that comes from tasks and users (history rows, the audit log).

Whatever a task or a request carries, what reaches the database is a ``str`` that encodes as
UTF-8, holds no NUL and fits its column:

- Lone surrogates (``"\\ud800"`` is valid JSON, but no UTF-8) become U+FFFD; a high/low pair
  split over two code points is joined into the character it stands for.
- NUL becomes U+FFFD in text (PostgreSQL refuses it there, and it means nothing to an
  operator); inside JSON it stays the escape ``\\u0000``.
- Everything else is kept as it came, RTL marks and control characters included: escaping for
  display is the templates' job, and the stored value should stay what the task saw.
- Long values are cut: free text (``safe_text``, ``safe_json``) keeps ``limit`` characters and
  then says how many more were not stored; a sized column (``safe_field``) gets at most its size,
  ending in "…".

JSON is written with ``ensure_ascii=False`` after the surrogates are replaced, not with
``ensure_ascii=True``: operators read and search these values, and ``"caf\\u00e9"`` in place of
``"café"`` (or a whole line of ``\\uXXXX`` for any non-Latin script) would make them unreadable.
JSON's own escaping already turns NUL and the other C0 controls into ``\\u0000``-style escapes.
The output is always strict JSON (no NaN), values nested deeper than ``MAX_DEPTH`` become a
placeholder, and an object is shown by its ``repr``, or by a placeholder when ``repr`` raises.
"""

from __future__ import annotations

import json
import math

MAX_DEPTH = 64  # nesting kept by safe_json; deeper values are replaced by a placeholder
REPLACEMENT = "\ufffd"
TOO_DEEP = "<nested too deep>"


def _unicode(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Through UTF-16, a split pair is joined and a lone surrogate is replaced.
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def _valid(text: str) -> str:
    text = _unicode(text)
    return text.replace("\x00", REPLACEMENT) if "\x00" in text else text


def cut(text: str, limit: int | None) -> str:
    """The first ``limit`` characters of ``text``, then a marker saying how many were not stored."""
    if limit is None or len(text) <= limit:
        return text
    return text[:limit] + f"\n… [{len(text) - limit} more characters not stored]"


def safe_text(value: object, limit: int | None = None) -> str:
    """``value`` as storable text (see the module docstring); non-strings by their ``repr``."""
    text = value if isinstance(value, str) else _describe(value)
    return cut(_valid(text), limit)


def safe_field(value: object, size: int) -> str | None:
    """Storable text for a ``String(size)`` column: at most ``size`` characters, "…" when cut."""
    if value is None:
        return None
    text = safe_text(value)
    return text if len(text) <= size else text[: size - 1] + "…"


def _describe(value: object) -> str:
    try:
        text = repr(value)
    except Exception:  # a raising __repr__, or one that recurses without end
        return f"<unrepresentable {type(value).__name__}>"
    return text if isinstance(text, str) else f"<unrepresentable {type(value).__name__}>"


def _plain(value: object, depth: int) -> object:
    """``value`` as plain JSON data with storable strings, at most ``MAX_DEPTH`` deep."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        # Python refuses to print integers of more than 4300 digits.
        return value if value.bit_length() <= 10_000 else f"<integer of {value.bit_length()} bits>"
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        return _unicode(value)  # json.dumps escapes NUL and the other controls itself
    if depth >= MAX_DEPTH:
        return TOO_DEEP
    if isinstance(value, dict):
        return {_key(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, depth + 1) for v in value]
    return _unicode(_describe(value))


def _key(key: object) -> str:
    if key is None or isinstance(key, bool | int | float):  # as json.dumps names them
        return json.dumps(_plain(key, 0)).strip('"')
    return _unicode(key if isinstance(key, str) else _describe(key))


def safe_json(value: object, limit: int | None = None, *, sort_keys: bool = False) -> str:
    """``value`` as storable JSON text, cut to ``limit`` characters (then no longer valid JSON)."""
    try:
        text = json.dumps(_plain(value, 0), ensure_ascii=False, allow_nan=False, sort_keys=sort_keys)
    except Exception:  # e.g. a mapping whose items() raises: say what it was instead
        text = json.dumps(f"<unrepresentable {type(value).__name__}>")
    return cut(text, limit)
