"""A static check of every template: no way for a value to reach the page without autoescaping.

Autoescaping covers ``{{ value }}`` in element content and in quoted attributes. What it cannot
cover is found here, in the template source:

- ``tojson`` marks its output safe and escapes ``'``, ``<``, ``>`` and ``&`` but not ``"``: it may
  only sit in a single-quoted attribute (JSON a program reads, such as ``hx-vals``). JSON shown to
  an operator goes through ``json_text``, which returns plain text.
- ``|safe`` only on markup written in the template (``ALLOWED_SAFE`` says why each one is
  there), and when that markup has ``%s`` slots (``|format``), every value put in is ``|e``.
- An unquoted attribute value ends at the first space, so a value could add attributes:
  interpolated attribute values are always quoted.
- Expressions that write attributes themselves are limited to ``ALLOWED_ATTRIBUTE_WRITERS``.
- Text that is already markup (``tojson``, ``|e``, ``|safe``, messages) is never cut with
  ``truncate`` or a slice: the cut can fall inside an entity or leave a tag open.
- Python code builds markup with ``Markup(`` only in the places ``ALLOWED_MARKUP_BUILDERS`` lists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from jinja2 import Environment, nodes

from tests.support.servers import ROOT

TEMPLATES = ROOT / "templates"
TEMPLATE_NAMES = sorted(str(path.relative_to(TEMPLATES)) for path in TEMPLATES.rglob("*.html"))

# Markup a template may mark safe. Each is written in the template itself; a `%s` in one is filled
# through |format with escaped values only (checked below).
ALLOWED_SAFE = {
    "<code>%s</code>": "wraps an escaped id, task or queue name in <code> inside a message",
    '<code class="task-id">%s</code>': "the same, styled as a task id",
    "<q>%s</q>": "quotes the operator's escaped search text inside a message",
    "<strong>%s</strong>": "emphasises an escaped count or command label inside a message",
    '<strong data-testid="staging-count">%s</strong>': "the staged count, an integer, for tests",
    '<span data-testid="staging-version">%s</span>': "the list version, an integer, for tests",
    '<span data-testid="staging-held-count">%s</span>': "the held count, an integer, for tests",
    '<a href="%s">%s</a>': "a link to a page (escaped url_for) with a translated label",
    "<code>POST %s</code>": "the staging API's address (escaped url_for)",
    "<code>AUTH_MODE=none</code>": "a setting's name, fixed text",
    "<code>beat_schedule</code>": "a setting's name, fixed text",
    "<code>celery.*</code>": "a task name pattern, fixed text",
    '<code>"enabled": true</code>': "a JSON snippet, fixed text",
    '<code>2</code>, <code>"text"</code>, <code>[1, 2]</code>': "examples of JSON values, fixed text",
    "<code>flask --app wsgi:app taskdeck dispatch</code>": "a command line, fixed text",
}

# Expressions that write whole attributes where a tag's attributes are (not inside a value).
ALLOWED_ATTRIBUTE_WRITERS = {
    "poll_attrs": "dashboard/polling.py: data-poll-key from an escaped literal key, hx-trigger from an int",
}

# Python files that build markup with Markup(...), and why each is safe.
ALLOWED_MARKUP_BUILDERS = {
    "dashboard/display.py": "reltime: Markup.format escapes every value it inserts",
    "dashboard/polling.py": "poll_attrs: an escaped key and an integer from a fixed set",
}

# Filters and calls whose result is Markup (so cutting it can split an entity or an element).
MARKUP_FILTERS = {"tojson", "safe", "e", "escape", "forceescape", "reltime", "urlize", "xmlattr"}
MARKUP_CALLS = {"_", "gettext", "ngettext", "pgettext", "npgettext"}
ESCAPING_FILTERS = {"e", "escape", "forceescape"}


@dataclass(frozen=True)
class Problem:
    """One place in a template where a value could escape autoescaping."""

    template: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.template}:{self.line}: {self.message}"


def parse_env() -> Environment:
    return Environment(extensions=["jinja2.ext.i18n"], autoescape=True)


# --------------------------------------------------------------------------- the AST checks


def _is_escaped(node: nodes.Node) -> bool:
    """An argument of a safe |format: escaped, a message of our own, or a plain number."""
    if isinstance(node, nodes.Filter) and node.name in ESCAPING_FILTERS:
        return True
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name in MARKUP_CALLS:
        # A translated message escapes its own arguments; its text is the catalogue's.
        return all(isinstance(arg, nodes.Const) for arg in node.args)
    return isinstance(node, nodes.Const) and isinstance(node.value, int | float)


def _produces_markup(node: nodes.Node) -> bool:
    if isinstance(node, nodes.Filter):
        return node.name in MARKUP_FILTERS or (node.name == "format" and _produces_markup(node.node))
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name):
        return node.node.name in MARKUP_CALLS
    return False


def _safe_problem(node: nodes.Filter) -> str | None:
    inner = node.node
    arguments: list[nodes.Node] = []
    if isinstance(inner, nodes.Filter) and inner.name == "format":
        arguments = [*inner.args, *(kw.value for kw in inner.kwargs)]
        inner = inner.node
    if not (isinstance(inner, nodes.Const) and isinstance(inner.value, str)):
        return "|safe on a value, not on markup written in the template"
    if inner.value not in ALLOWED_SAFE:
        return f"|safe on markup not in ALLOWED_SAFE: {inner.value!r}"
    for argument in arguments:
        if not _is_escaped(argument):
            return f"|format into {inner.value!r}|safe with an argument that is not |e"
    return None


def ast_problems(source: str, name: str) -> list[Problem]:
    """``|safe`` outside the allow-list, and cuts of text that is already markup."""
    problems = []
    tree = parse_env().parse(source)
    for node in tree.find_all(nodes.Filter):
        if node.name == "safe" and (message := _safe_problem(node)):
            problems.append(Problem(name, node.lineno, message))
        if node.name == "truncate" and _produces_markup(node.node):
            problems.append(Problem(name, node.lineno, f"truncate of markup (|{_describe(node.node)})"))
    for node in tree.find_all(nodes.Getitem):
        if isinstance(node.arg, nodes.Slice) and _produces_markup(node.node):
            problems.append(Problem(name, node.lineno, f"slice of markup (|{_describe(node.node)})"))
    return problems


def _describe(node: nodes.Node) -> str:
    if isinstance(node, nodes.Filter):
        return node.name
    return getattr(node.node, "name", type(node).__name__)


# --------------------------------------------------------------------------- the HTML position checks

TEXT, TAG_NAME, IN_TAG, ATTR_NAME, AFTER_NAME, BEFORE_VALUE, DQ, SQ, UNQUOTED, COMMENT, RAWTEXT = range(11)


class HtmlPositions:
    """Follows the HTML around the template's own text, to say where each ``{{ }}`` lands.

    Block tags (``{% if %}``) are read through as if both branches were written one after the
    other, which is how the templates use them inside tags (`` {% if x %} selected{% endif %}``).
    """

    def __init__(self) -> None:
        self.state = TEXT
        self.tag = ""
        self.attribute = ""
        self.rawtext_end = ""
        self.pending = ""  # the characters of a "<!--" or "</script" being matched

    def feed(self, text: str) -> None:
        for char in text:
            self._step(char)

    def _step(self, char: str) -> None:  # noqa: C901 - one branch per HTML tokenizer state
        state = self.state
        if state == TEXT:
            if self.pending or char == "<":
                self.pending += char
                if self.pending == "<!--":
                    self.state, self.pending = COMMENT, ""
                elif len(self.pending) == 2 and (self.pending[1].isalpha() or self.pending[1] == "/"):
                    if self.pending[1] == "/":
                        self.state, self.tag, self.pending = TAG_NAME, "/", ""
                    else:
                        self.state, self.tag, self.pending = TAG_NAME, char.lower(), ""
                elif not "<!--".startswith(self.pending):
                    self.pending = ""
        elif state == COMMENT:
            self.pending = (self.pending + char)[-3:]
            if self.pending == "-->":
                self.state, self.pending = TEXT, ""
        elif state == RAWTEXT:
            self.pending = (self.pending + char.lower())[-len(self.rawtext_end) :]
            if self.pending == self.rawtext_end:
                self.state, self.tag, self.pending = IN_TAG, "/", ""
        elif state == TAG_NAME:
            if char.isspace() or char == "/":
                self.state = IN_TAG
            elif char == ">":
                self._close_tag()
            else:
                self.tag += char.lower()
        elif state in (IN_TAG, AFTER_NAME):
            if char == ">":
                self._close_tag()
            elif char == "=" and state == AFTER_NAME:
                self.state = BEFORE_VALUE
            elif not (char.isspace() or char == "/"):
                self.state, self.attribute = ATTR_NAME, char.lower()
        elif state == ATTR_NAME:
            if char == "=":
                self.state = BEFORE_VALUE
            elif char == ">":
                self._close_tag()
            elif char.isspace() or char == "/":
                self.state = AFTER_NAME
            else:
                self.attribute += char.lower()
        elif state == BEFORE_VALUE:
            if char == '"':
                self.state = DQ
            elif char == "'":
                self.state = SQ
            elif char == ">":
                self._close_tag()
            elif not char.isspace():
                self.state = UNQUOTED
        elif state == DQ and char == '"' or state == SQ and char == "'":
            self.state = IN_TAG
        elif state == UNQUOTED:
            if char.isspace():
                self.state = IN_TAG
            elif char == ">":
                self._close_tag()

    def _close_tag(self) -> None:
        if self.tag in ("script", "style"):
            self.state, self.rawtext_end, self.pending = RAWTEXT, f"</{self.tag}", ""
        else:
            self.state = TEXT


def interpolations(source: str) -> list[tuple[int, int, str, str, str]]:
    """(line, HTML state, tag, attribute, expression source) for each ``{{ }}`` of ``source``."""
    positions = HtmlPositions()
    found = []
    expression: list[str] | None = None
    start_line = 0
    for line, kind, value in parse_env().lex(source):
        if kind == "data":
            positions.feed(value)
        elif kind == "variable_begin":
            expression, start_line = [], line
        elif kind == "variable_end":
            found.append(
                (start_line, positions.state, positions.tag, positions.attribute, "".join(expression))
            )
            if positions.state == BEFORE_VALUE:
                positions.state = UNQUOTED
            expression = None
        elif expression is not None:
            expression.append(value)
    return found


def position_problems(source: str, name: str) -> list[Problem]:
    """tojson outside a single-quoted attribute, unquoted values, and attribute-writing expressions."""
    problems = []
    for line, state, tag, attribute, expression in interpolations(source):
        uses_tojson = re.search(r"\|\s*tojson\b", expression) is not None
        if uses_tojson and state == DQ:
            problems.append(Problem(name, line, f"tojson inside the double-quoted {attribute}= of <{tag}>"))
        elif uses_tojson and state != SQ:
            problems.append(Problem(name, line, "tojson outside a single-quoted attribute"))
        if state in (BEFORE_VALUE, UNQUOTED):
            problems.append(Problem(name, line, f"unquoted {attribute}= of <{tag}> interpolates {{{{ }}}}"))
        elif state in (IN_TAG, AFTER_NAME, ATTR_NAME, TAG_NAME):
            writer = re.match(r"\s*([A-Za-z_]\w*)\(\s*'[\w-]*'\s*(,\s*\d+\s*)?\)\s*$", expression)
            if not (writer and writer.group(1) in ALLOWED_ATTRIBUTE_WRITERS):
                problems.append(
                    Problem(name, line, f"{{{{ {expression.strip()} }}}} writes into the <{tag}> tag")
                )
        elif state == RAWTEXT:
            problems.append(Problem(name, line, f"{{{{ }}}} inside <{tag}>: no values in scripts or styles"))
    return problems


def template_problems(source: str, name: str) -> list[Problem]:
    """Everything this module checks, for one template's source."""
    return ast_problems(source, name) + position_problems(source, name)


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_template_lets_no_value_past_autoescaping(name):
    source = (TEMPLATES / name).read_text(encoding="utf-8")
    problems = template_problems(source, name)
    assert not problems, "\n".join(map(str, problems))


def test_every_template_is_checked():
    # The walk itself: a wrong path would make every parametrized case above vanish silently.
    assert len(TEMPLATE_NAMES) > 40
    assert "staging/_list.html" in TEMPLATE_NAMES and "base.html" in TEMPLATE_NAMES


# The staging list's arguments cell as it was: tojson in a double-quoted title.
OLD_STAGING_ARGS = (
    '<span class="mono truncate staging-args" title="{{ item.args|tojson|truncate(500) }} '
    '{{ item.kwargs|tojson|truncate(500) }}">({{ item.args|tojson|truncate(80) }}'
    "{% if item.kwargs %}, {{ item.kwargs|tojson|truncate(80) }}{% endif %})</span>"
)


def test_the_old_staging_list_cell_is_caught():
    problems = template_problems(OLD_STAGING_ARGS, "staging/_list.html")
    messages = [p.message for p in problems]
    assert messages.count("tojson inside the double-quoted title= of <span>") == 2
    assert messages.count("tojson outside a single-quoted attribute") == 2  # and the two shown as text
    assert messages.count("truncate of markup (|tojson)") == 4


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('<a title="{{ x }}" href={{ url }}>', "unquoted href= of <a> interpolates {{ }}"),
        ("<input value={{ x }}>", "unquoted value= of <input> interpolates {{ }}"),
        ("<p>{{ note|safe }}</p>", "|safe on a value, not on markup written in the template"),
        ("<p>{{ _('x') ~ note|safe }}</p>", "|safe on a value, not on markup written in the template"),
        ("<p>{{ '<b>%s</b>'|format(note)|safe }}</p>", "|safe on markup not in ALLOWED_SAFE: '<b>%s</b>'"),
        (
            "<p>{{ '<code>%s</code>'|format(note)|safe }}</p>",
            "|format into '<code>%s</code>'|safe with an argument that is not |e",
        ),
        ("<p>{{ (note|e)[:10] }}</p>", "slice of markup (|e)"),
        ("<p>{{ '<code>%s</code>'|format(x|e)|safe|truncate(9) }}</p>", "truncate of markup (|safe)"),
        ("<div {{ extra_attributes }}>", "{{ extra_attributes }} writes into the <div> tag"),
        ("<script>var v = {{ v|tojson }};</script>", "{{ }} inside <script>: no values in scripts or styles"),
        ('<b x-data="{{ v|tojson }}">', "tojson inside the double-quoted x-data= of <b>"),
    ],
)
def test_the_detector_catches(source, expected):
    assert expected in [p.message for p in template_problems(source, "fixture.html")]


@pytest.mark.parametrize(
    "source",
    [
        "<button hx-vals='{{ {\"id\": item.id}|tojson }}'>",
        '<p title="{{ x }}" class=\'{{ y }}\'>{{ z }} {{ _("%(a)s", a=v) }}</p>',
        "<p>{{ _('Run %(id)s', id='<code>%s</code>'|format(run.task_id|e)|safe) }}</p>",
        '<option value="{{ s }}"{% if s == c %} selected{% endif %}>{{ s }}</option>',
        '<section hx-get="{{ url }}" {{ poll_attrs(\'staging\') }} hx-swap="outerHTML">',
        "<!-- <a href={{ not_an_attribute }}> --><p>{{ x|json_text|truncate(5) }}</p>",
    ],
)
def test_the_detector_accepts_safe_forms(source):
    assert template_problems(source, "fixture.html") == []


def test_markup_is_built_in_python_only_where_allowed():
    builders = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "dashboard").rglob("*.py")
        if re.search(r"\bMarkup\(", path.read_text(encoding="utf-8"))
    )
    assert set(builders) <= set(ALLOWED_MARKUP_BUILDERS), builders


def test_no_template_is_built_from_a_string_at_run_time():
    # A template made from data would evaluate "{{ 7*7 }}" in a value.
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "dashboard").rglob("*.py")
        if re.search(r"render_template_string|from_string\(|Template\(", path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
