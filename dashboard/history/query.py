"""The history's search box: a small query language, parsed into SQL (docs/history.md, "Search").

    state:FAILURE task:tasks.sync* exception:"timed out" -origin:schedule
    (queue:reports OR queue:exports) kwargs.partner=acme since:2h retries>=2
    3f2a                      (a bare word: an id prefix, or text in the name, args or kwargs)

Terms side by side must all hold; ``OR`` between two terms (or parenthesised groups) needs
either; ``NOT`` or a leading ``-`` negates. Field terms use the indexes (task, state, origin,
schedule, queue, worker, ids, time); text terms (a bare word, ``exception:``, ``args:``,
``kwargs:``, ``result:``, ``kwargs.key=value``) must read rows, so a query that has any looks
only at the newest :data:`SCAN_ROWS` runs (by ``seq``), which the page says; a time range
narrows further. ``OR`` binds tighter than terms side by side (``state:FAILURE OR state:RETRY
task:x`` is either state, and task x). A ``word:`` that names no field is text to find. A
negated term also holds where the value is missing (``-queue:x`` keeps runs with no queue).
Bounds: at most :data:`MAX_TERMS` terms and :data:`MAX_DEPTH` levels of parentheses; anything
else that is not in the language is refused with where it went wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, false, func, not_, or_, select

from ..core.errors import Unprocessable
from ..core.runs import ORIGINS, STATES, TaskRun
from ..timeutil import as_utc, utcnow

SCAN_ROWS = 200_000
MAX_TERMS = 30
MAX_DEPTH = 8
FIELDS = (
    "task", "state", "queue", "worker", "origin", "schedule", "id", "group", "root", "parent",
    "exception", "args", "kwargs", "result", "since", "until", "retries", "runtime", "error",
)  # fmt: skip
TEXT_FIELDS = frozenset({"exception", "args", "kwargs", "result"})
NUMBER_FIELDS = {"retries": TaskRun.retries, "runtime": TaskRun.runtime}
EXACT_FIELDS = {"queue": TaskRun.queue, "worker": TaskRun.worker, "group": TaskRun.group_id}
EXACT_FIELDS |= {"root": TaskRun.root_id, "parent": TaskRun.parent_id, "error": TaskRun.error_group}
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<open>\() | (?P<close>\)) |
      (?P<neg>-)?(?P<field>[A-Za-z_][\w.]*)(?P<op>>=|<=|[:=<>])(?P<value>"(?:[^"\\]|\\.)*"|[^\s()"]*) |
      (?P<negword>-)?(?P<word>"(?:[^"\\]|\\.)*"|[^\s()"]+)
    )""",
    re.X,
)
_RELATIVE = re.compile(r"^(\d{1,6})([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class QueryError(Unprocessable):
    """A search the language does not take; the message says where."""

    def __init__(self, message, position: int | None = None):
        super().__init__(message, field="q")
        self.position = position


@dataclass(frozen=True)
class Term:
    field: str  # one of FIELDS, "kwargs.<key>", or "" for a bare word
    op: str  # ":", "=", ">", "<", ">=", "<="
    value: str


@dataclass(frozen=True)
class Not:
    item: object


@dataclass(frozen=True)
class All:
    items: tuple


@dataclass(frozen=True)
class Any:
    items: tuple


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def tokens(text: str) -> list[tuple[str, object, int]]:
    """(kind, value, position) of each token: "(", ")", "OR", "AND", "NOT", or ("term", Term)."""
    found, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise QueryError(_l("the search cannot be read at character %(n)s", n=position + 1), position)
        start = match.start() + len(match.group(0)) - len(match.group(0).lstrip())
        position = match.end()
        if match.group("open"):
            found.append(("(", None, start))
        elif match.group("close"):
            found.append((")", None, start))
        elif match.group("field"):
            name = match.group("field").lower()
            if name in FIELDS or name.startswith("kwargs."):
                term = Term(name, match.group("op"), _unquote(match.group("value")))
            else:  # not a field ("http://...", "Error:"): the token is text to find
                term = Term("", ":", match.group(0).strip().lstrip("-"))
            found.append(("term", Not(term) if match.group("neg") else term, start))
        else:
            word = match.group("word")
            if word in ("OR", "AND", "NOT") and not match.group("negword"):
                found.append((word, None, start))
                continue
            term = Term("", ":", _unquote(word))
            found.append(("term", Not(term) if match.group("negword") else term, start))
    return found


def parse(text: str) -> object | None:
    """The query's tree (Term, Not, All, Any), or None for an empty search."""
    items = tokens(text)
    if not items:
        return None
    if sum(1 for kind, _, _ in items if kind == "term") > MAX_TERMS or len(items) > 4 * MAX_TERMS:
        raise QueryError(_l("a search takes at most %(n)s terms", n=MAX_TERMS))
    parser = _Parser(items)
    tree = parser.all(0)
    if parser.index < len(items):
        raise QueryError(_l("unexpected “)” at character %(n)s", n=items[parser.index][2] + 1))
    return tree


class _Parser:
    def __init__(self, items: list) -> None:
        self.items, self.index = items, 0

    def peek(self) -> str | None:
        return self.items[self.index][0] if self.index < len(self.items) else None

    def all(self, depth: int) -> object:
        parts = []
        while self.peek() not in (None, ")"):
            if self.peek() == "AND":
                self.index += 1
                continue
            parts.append(self.any(depth))
        if not parts:
            raise QueryError(_l("AND and parentheses need a term on each side"))
        return parts[0] if len(parts) == 1 else All(tuple(parts))

    def any(self, depth: int) -> object:
        if self.peek() in (None, ")", "OR", "AND"):
            raise QueryError(_l("OR and AND need a term on each side"))
        parts = [self.unary(depth)]
        while self.peek() == "OR":
            self.index += 1
            if self.peek() in (None, ")", "OR", "AND"):
                raise QueryError(_l("OR and AND need a term on each side"))
            parts.append(self.unary(depth))
        return parts[0] if len(parts) == 1 else Any(tuple(parts))

    def unary(self, depth: int) -> object:
        kind, value, position = self.items[self.index]
        self.index += 1
        if kind == "NOT":
            if self.peek() in (None, ")", "OR", "AND"):
                raise QueryError(_l("NOT needs a term after it (character %(n)s)", n=position + 1))
            return Not(self.unary(depth))
        if kind == "(":
            if depth >= MAX_DEPTH:
                raise QueryError(_l("at most %(n)s levels of parentheses", n=MAX_DEPTH))
            inner = self.all(depth + 1)
            if self.peek() != ")":
                raise QueryError(_l("a “(” at character %(n)s is not closed", n=position + 1))
            self.index += 1
            return inner
        if kind == "term":
            _check(value.item if isinstance(value, Not) else value)
            return value
        raise QueryError(_l("unexpected “%(token)s” at character %(n)s", token=kind, n=position + 1))


def _check(term: Term) -> None:
    name = term.field
    if name.startswith("kwargs."):
        if term.op not in (":", "=") or not name[7:]:
            raise QueryError(_l("write kwargs.<name>=<value>"))
        return
    if name in NUMBER_FIELDS:
        try:
            number = float(term.value)
        except ValueError:
            number = float("nan")
        if not (number == number and abs(number) < 1e12):
            raise QueryError(_l("%(field)s needs a number", field=name))
        return
    if term.op != ":":
        raise QueryError(_l("%(field)s takes “:”, as in %(field)s:value", field=name or "text"))
    if not term.value:
        raise QueryError(_l("%(field)s needs a value", field=name))
    if name == "state":
        unknown = [s for s in term.value.upper().split(",") if s not in STATES]
        if unknown:
            raise QueryError(_l("state must be one of %(choices)s", choices=", ".join(STATES)))
    if name == "origin" and term.value not in ORIGINS:
        raise QueryError(_l("origin must be one of %(choices)s", choices=", ".join(ORIGINS)))
    if name in ("since", "until"):
        moment(term.value, name)


def moment(value: str, name: str, now: datetime | None = None) -> datetime:
    """A time: ISO 8601, or an age such as 15m, 2h, 3d, 1w (that long ago)."""
    relative = _RELATIVE.match(value)
    if relative:
        return (now or utcnow()) - timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError as exc:
        raise QueryError(_l("%(field)s must be a date and time or an age like 2h", field=name)) from exc


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _contains(column, text: str):
    return column.like("%" + _like(text) + "%", escape="\\")


def _match(column, value: str):
    """Equal, or with ``*`` a pattern (``tasks.sync*``): a prefix uses the column's index."""
    if "*" not in value:
        return column == value
    return column.like(_like(value).replace("*", "%"), escape="\\")


def _kwarg(key: str, value: str):
    """A keyword argument as stored: JSON (``"key": value``) or an event's repr (``'key': value``)."""
    if re.fullmatch(r"-?\d+(\.\d+)?", value):
        as_json = as_repr = value
    elif value in ("true", "false", "null"):
        as_json, as_repr = value, {"true": "True", "false": "False", "null": "None"}[value]
    else:
        as_json, as_repr = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"', repr(value)
    return or_(
        _contains(TaskRun.kwargs, f'"{key}": {as_json}'),
        _contains(TaskRun.kwargs, f"'{key}': {as_repr}"),
    )


def _term(term: Term, now: datetime):
    name, value = term.field, term.value
    if name == "":
        return or_(
            TaskRun.task_id.like(_like(value) + "%", escape="\\"),
            _contains(TaskRun.name, value),
            _contains(TaskRun.args, value),
            _contains(TaskRun.kwargs, value),
        )
    if name.startswith("kwargs."):
        return _kwarg(name[7:], value)
    if name in NUMBER_FIELDS:
        column, number = NUMBER_FIELDS[name], float(value)
        op = {":": "=", "=": "="}.get(term.op, term.op)
        return {"=": column == number, ">": column > number, "<": column < number}.get(
            op, column >= number if op == ">=" else column <= number
        )
    if name == "task":
        return _match(TaskRun.name, value)
    if name == "state":
        return TaskRun.state.in_(value.upper().split(","))
    if name == "origin":
        return TaskRun.origin == value
    if name == "schedule":
        return and_(TaskRun.origin == "schedule", TaskRun.origin_ref == value)
    if name == "id":
        return TaskRun.task_id.like(_like(value) + "%", escape="\\")
    if name in EXACT_FIELDS:
        return _match(EXACT_FIELDS[name], value)
    if name in TEXT_FIELDS:
        return _contains(getattr(TaskRun, name), value)
    if name == "since":
        return TaskRun.created_at >= moment(value, name, now)
    return TaskRun.created_at < moment(value, name, now)  # until


def clause(tree: object, now: datetime | None = None):
    """The SQL condition of a parsed query."""
    now = now or utcnow()
    if isinstance(tree, Term):
        return _term(tree, now)
    if isinstance(tree, Not):  # a missing value (NULL) makes the inner term false, not unknown
        return not_(func.coalesce(clause(tree.item, now), false()))
    parts = [clause(item, now) for item in tree.items]
    return and_(*parts) if isinstance(tree, All) else or_(*parts)


def scans(tree: object) -> bool:
    """True when the query has a text term, which must read rows (bounded by SCAN_ROWS)."""
    if isinstance(tree, Term):
        return tree.field == "" or tree.field in TEXT_FIELDS or tree.field.startswith("kwargs.")
    if isinstance(tree, Not):
        return scans(tree.item)
    return any(scans(item) for item in tree.items)


def scan_floor():
    """Only the newest SCAN_ROWS runs: ``seq`` above the newest one's minus SCAN_ROWS (one PK read)."""
    return TaskRun.seq > select(func.max(TaskRun.seq)).scalar_subquery() - SCAN_ROWS
