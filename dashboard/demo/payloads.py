"""The hostile, huge and deep values the demo data set carries, and the sizes it comes in.

Every value here is valid JSON text (lone surrogates cannot cross the wire as JSON, so there are
none); each is chosen to break a page that forgets to escape, cut or bound what it shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.json_text import MAX_FOREIGN_DEPTH, MAX_JSON_DEPTH
from ..core.text import MAX_DEPTH

# An element the markup below would create if a page rendered it as HTML instead of text: a test
# (or an operator with the browser's inspector) looks for it, and must find none.
MARKER = "data-demo-injected"
SCRIPT = "<script>alert('taskdeck demo')</script>"
MARKUP = f'{SCRIPT}<img src=x onerror="alert(1)" {MARKER}="img"><b {MARKER}="b">bold?</b>'
ATTRIBUTE_BREAKERS = f'" onmouseover="alert(2)" {MARKER}="attr" x="\' onfocus=\'alert(3)\' autofocus \''
RTL = "invoice_\u202egpj.exe \u2067\u0645\u0631\u062d\u0628\u0627\u2069 \u05e9\u05dc\u05d5\u05dd"
NUL = "before\x00after"
EMOJI = "\U0001f680\U0001f525 \U0001f469\u200d\U0001f469\u200d\U0001f467 \U0001f3f3\ufe0f\u200d\U0001f308"
CJK = "\u4efb\u52a1\u961f\u5217\u5df2\u6ee1 \u30bf\u30b9\u30af\u304c\u5931\u6557 \uc791\uc5c5 \uc2e4\ud328"
CONTROLS = "\x1b[31mred\x1b[0m\t\r\n\x07\x08 zero\u200bwidth\ufeff"
TEMPLATE = "{{ 7*7 }} {% if %} ${7*7} %(name)s {0} </textarea></pre></title>"
LINK = "javascript:alert(4)"
LONG_WORD = "W" * 3000  # no break opportunity: the layout must wrap or clip it

HOSTILE = {
    "markup": MARKUP,
    "attribute": ATTRIBUTE_BREAKERS,
    "rtl": RTL,
    "nul": NUL,
    "emoji": EMOJI,
    "cjk": CJK,
    "controls": CONTROLS,
    "template": TEMPLATE,
    "link": LINK,
    "long_word": LONG_WORD,
}
# Object keys are text too: the pages show them as they show values.
HOSTILE_KEYS = {SCRIPT: "key with markup", "\u202ekey": "right-to-left key", "\U0001f511": "emoji key"}
# A failure's message: every kind at once, short enough to read on the page.
HOSTILE_MESSAGE = " | ".join(value for name, value in HOSTILE.items() if name != "long_word")
# A text without control characters, for the fields that refuse them (schedule names, notes).
HOSTILE_NAME = f"{SCRIPT} {ATTRIBUTE_BREAKERS} {RTL} {EMOJI} {CJK}"


def nested(levels: int, leaf: object = "leaf") -> object:
    """``leaf`` inside exactly ``levels`` containers, objects and lists in turn."""
    value = leaf
    for level in range(levels):
        value = [value] if level % 2 else {"child": value}
    return value


# Positional arguments are a list and keyword arguments an object, one level of their own: the
# deepest values the run form accepts.
DEEPEST_ACCEPTED_ARGS = [nested(MAX_JSON_DEPTH - 1, "deepest accepted")]
DEEPEST_ACCEPTED_KWARGS = {"value": nested(MAX_JSON_DEPTH - 1, "deepest accepted")}
# What other code may send (a broker message wraps its arguments in a few levels of its own).
DEEP_FOREIGN_ARGS = [nested(MAX_FOREIGN_DEPTH - 8, "deep, from other code")]
# Deeper than the history keeps: stored with a placeholder below MAX_DEPTH.
TOO_DEEP_RESULT = MAX_DEPTH + 6


def near_limit_text(max_bytes: int) -> str:
    """ASCII text whose run arguments stay just under the ``max_bytes`` payload limit."""
    return ("0123456789" * (max_bytes // 10))[: max_bytes - 512]


@dataclass(frozen=True)
class Size:
    """How much of each kind of work one demo run creates."""

    name: str
    quick: int  # ordinary runs (add, report, cleanup) that succeed at once
    backfill: int  # messages left waiting on the backfill queue (PENDING)
    staged: int  # items left in the staging list
    failures: int  # runs that fail with hostile messages
    workflows: int  # copies of each workflow: a chain of three, a group of five, a chord
    schedules: int  # extra (disabled) interval schedules besides the six of every size


SIZES = {
    "small": Size("small", quick=6, backfill=8, staged=4, failures=2, workflows=1, schedules=0),
    "large": Size("large", quick=240, backfill=60, staged=40, failures=25, workflows=6, schedules=30),
}
