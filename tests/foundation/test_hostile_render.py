"""Hostile values on every page: shown as text, never turned into an attribute or an element.

Two ways that complement each other:

- Through the real app on real data: hostile args, kwargs, notes, schedule names and task results
  created through the JSON API (and a real worker and recorder), then every page and HTMX
  fragment that shows them fetched, full and with ``HX-Request``.
- Every template rendered directly, with each variable a ``Hostile`` stand-in whose text is the
  payload and whose attributes, items, calls and iteration are more of them, compared element by
  element with the same template rendered from benign stand-ins.
"""

from __future__ import annotations

import json
import unicodedata
import uuid
from collections import Counter
from html.parser import HTMLParser
from urllib.parse import unquote_plus, urlencode

import pytest
from jinja2 import meta

from dashboard.templating import environment
from tests.history.conftest import RecorderProcess
from tests.support.servers import ROOT, wait_until

TEMPLATES = ROOT / "templates"
TEMPLATE_NAMES = sorted(str(path.relative_to(TEMPLATES)) for path in TEMPLATES.rglob("*.html"))

PAYLOADS = {
    "double-quote": '" autofocus onfocus=alert(7) x="',
    "single-quote": "' onmouseover='alert(8)",
    "element": "<img src=x onerror=alert(9)>",
    "end-of-raw-text": "</textarea><script>alert(10)</script>",
    "template": "{{7*7}}",
    "url": "javascript:alert(11)",
    "unicode": "a\ud800b\x00c\u202edcba",
}
# Every payload in one value, with the URL one first so that it also starts the value.
PAYLOADS["all"] = PAYLOADS["url"] + "".join(v for k, v in PAYLOADS.items() if k != "url")
BENIGN = "benign-value"

# What a payload could create; a page's own elements of these kinds are counted, not forbidden.
COUNTED_ELEMENTS = ("script", "img", "iframe", "object", "embed", "svg", "style", "textarea")
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "hx-get", "hx-post", "hx-put", "hx-delete"}


# --------------------------------------------------------------------------- reading the HTML


class Page(HTMLParser):
    """Every start tag with its attributes, and all text, of one HTML document or fragment."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.texts: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))
        self.texts.extend(value for _, value in attrs if value)
        # A value carried in a URL (a poller's query string) is there whole once decoded.
        self.texts.extend(unquote_plus(value) for _, value in attrs if value and "%" in value)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.texts.append(data)

    def shape(self) -> list[tuple[str, tuple[str, ...]]]:
        """Element names with their attribute names, in document order."""
        return [(tag, tuple(sorted(name for name, _ in attrs))) for tag, attrs in self.elements]

    def counted(self) -> Counter:
        return Counter(tag for tag, _ in self.elements if tag in COUNTED_ELEMENTS)

    def shows(self, payload: str) -> bool:
        """True when ``payload`` appears whole in some text or attribute value (as text or as JSON)."""
        text = normalise("\n".join(self.texts))
        return any(form in text for form in shown_forms(payload))


def normalise(text: str) -> str:
    # A lone surrogate is stored or sent as U+FFFD, and HTML parsers read NUL as U+FFFD.
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace").replace("\x00", "\ufffd")


def shown_forms(payload: str) -> set[str]:
    """The payload as plain text, inside JSON text (``"`` as ``\\"``) and in a repr (``'`` as ``\\'``)."""
    kept = storable(payload)
    as_json = json.dumps(kept, ensure_ascii=False)[1:-1]
    as_repr = kept.replace("\\", "\\\\").replace("'", "\\'")
    return {normalise(form) for form in (kept, as_json, as_repr)}


def attribute_problems(page: Page, urls: bool = True) -> list[str]:
    """Attributes no payload may create: event handlers, autofocus, and (``urls``) script URLs."""
    problems = []
    for tag, attrs in page.elements:
        for name, value in attrs:
            if name.startswith("on") or name == "autofocus":
                problems.append(f"<{tag} {name}={value!r}>")
            squeezed = "".join((value or "").split()).lower()
            if urls and name in URL_ATTRIBUTES and squeezed.startswith(("javascript:", "data:", "vbscript:")):
                problems.append(f"<{tag} {name}={value!r}>")
    return problems


# --------------------------------------------------------------------------- (b) every template directly


class Hostile:
    """A stand-in for any template variable: its text is ``text``; whatever is asked of it is another.

    Iteration yields two stand-ins (so ``for a, b in x`` and ``x.items()`` both work); numbers
    are 7; comparisons are false, so the same branches are taken whatever the text is.
    """

    def __init__(self, text: str, fixed: dict | None = None) -> None:
        self._text = text
        self._fixed = fixed or {}

    def _more(self) -> Hostile:
        return Hostile(self._text)

    def __str__(self) -> str:
        return self._text

    __repr__ = __str__

    def __getattr__(self, name: str):
        if name.startswith("_") or name == "jinja_pass_arg":
            raise AttributeError(name)  # protocol probes (__html__, jinja's own) must see nothing
        if name in self._fixed:
            return self._fixed[name]
        return self._more()

    def __getitem__(self, key) -> Hostile:
        return self._more()

    def __call__(self, *args, **kwargs) -> Hostile:
        return self._more()

    def __iter__(self):
        return iter([self._more(), self._more()])

    def keys(self) -> list:
        return []  # ``**value`` adds no keyword arguments

    def __len__(self) -> int:
        return 2

    def __bool__(self) -> bool:
        return True

    def __contains__(self, item) -> bool:
        return False

    def __eq__(self, other) -> bool:
        return other is self

    __hash__ = object.__hash__

    def __lt__(self, other) -> bool:
        return False

    __le__ = __gt__ = __ge__ = __lt__

    def __int__(self) -> int:
        return 7

    __index__ = __int__

    def __float__(self) -> float:
        return 7.0

    def __round__(self, digits=None) -> int:
        return 7

    def _arithmetic(self, other) -> Hostile:
        return self._more()

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _arithmetic
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __neg__ = _arithmetic


def real_values(text: str) -> dict:
    """Variables that name code (endpoints, command tables) or configuration, which data never sets."""
    from dashboard.workers import control

    # A tile links to an endpoint of the dashboard, chosen by its check.
    check = Hostile(text, fixed={"link": "queues.index", "link_args": {}})
    return {
        "commands": control.COMMANDS,
        "command": control.COMMANDS["rate_limit"],
        "kind": "active",
        "check": check,
        "checks": [check],
        "flower_url": None,
    }


def variables_of(env, name: str, seen: set[str] | None = None) -> set[str]:
    """The free variables of template ``name`` and of every template it includes or extends."""
    seen = set() if seen is None else seen
    if name in seen:
        return set()
    seen.add(name)
    source = env.loader.get_source(env, name)[0]
    tree = env.parse(source)
    found = set(meta.find_undeclared_variables(tree))
    for other in meta.find_referenced_templates(tree):
        if other:
            found |= variables_of(env, other, seen)
    return found


def render_directly(app, name: str, text: str, source: str | None = None) -> str:
    """Template ``name`` (or ``source``) rendered in a request, each free variable a stand-in."""
    from dashboard.blueprint import page_globals

    env = environment(app)
    with app.test_request_context("/"):
        app.preprocess_request()  # who is asking: the admin of an unauthenticated dashboard
        if source is None:
            template, free = env.get_template(name), variables_of(env, name)
        else:
            template, free = env.from_string(source), meta.find_undeclared_variables(env.parse(source))
        context = {variable: Hostile(text) for variable in free - set(env.globals)}
        context.update(page_globals())
        context.update(identity=Hostile(text))
        context.update({k: v for k, v in real_values(text).items() if k in context})
        return template.render(context)


@pytest.fixture
def stand_ins_as_values(app, monkeypatch):
    """Let stand-ins go where real values go: into JSON (as their text) and into ``url_for``.

    ``url_for`` gets them with lone surrogates replaced: in the app none reaches a URL, as ids
    are validated (or cut to storable text) and query strings are decoded with replacement.
    """
    real_url_for = environment(app).globals["url_for"]
    real_default = app.json.default

    def url_for(endpoint, **values):
        values = {k: Hostile(normalise(str(v))) if isinstance(v, Hostile) else v for k, v in values.items()}
        return real_url_for(endpoint, **values)

    def default(value):
        return str(value) if isinstance(value, Hostile) else real_default(value)

    monkeypatch.setitem(environment(app).globals, "url_for", url_for)
    monkeypatch.setattr(app.json, "default", default)


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
@pytest.mark.usefixtures("stand_ins_as_values")
def test_template_renders_hostile_values_as_text(app, name):
    benign = Page(render_directly(app, name, BENIGN))
    for payload, text in PAYLOADS.items():
        hostile = Page(render_directly(app, name, text))
        assert hostile.shape() == benign.shape(), f"{payload}: a value changed the elements or attributes"
        # URLs are left to the app test: here a configured URL (Flower's) is a stand-in too.
        assert attribute_problems(hostile, urls=False) == [], payload
        if benign.shows(BENIGN):
            assert hostile.shows(text), f"{payload}: the value is not shown whole"


# The staging list's arguments cell as it was: tojson in a double-quoted title.
OLD_STAGING_ARGS = (
    '<span class="mono truncate staging-args" title="{{ item.args|tojson|truncate(500) }} '
    '{{ item.kwargs|tojson|truncate(500) }}">({{ item.args|tojson|truncate(80) }}'
    "{% if item.kwargs %}, {{ item.kwargs|tojson|truncate(80) }}{% endif %})</span>"
)


def test_every_template_is_rendered_directly():
    # Each one renders from stand-ins alone; the walk must find them all for that to mean anything.
    assert len(TEMPLATE_NAMES) > 40 and "staging/_list.html" in TEMPLATE_NAMES


@pytest.mark.usefixtures("stand_ins_as_values")
def test_the_harness_catches_the_old_staging_list_cell(app):
    benign = Page(render_directly(app, "", BENIGN, source=OLD_STAGING_ARGS))
    hostile = Page(render_directly(app, "", PAYLOADS["double-quote"], source=OLD_STAGING_ARGS))
    assert hostile.shape() != benign.shape()
    assert "<span autofocus=None>" in attribute_problems(hostile)
    fixed = OLD_STAGING_ARGS.replace("|tojson", "|json_text")
    assert Page(render_directly(app, "", PAYLOADS["double-quote"], source=fixed)).shape() == [
        ("span", ("class", "title"))
    ]


# --------------------------------------------------------------------------- (a) the real app on real data


@pytest.fixture
def recorder(database_url, key_prefix, redis_client, tmp_path, celery_worker):
    """The history recorder on this test's database, so finished runs show their results."""
    process = RecorderProcess(database_url, key_prefix, tmp_path / "recorder.log").start(redis_client)
    yield process
    process.stop()


def post_json(client, url: str, body: dict) -> dict:
    response = client.post(url, data=json.dumps(body), content_type="application/json")
    assert response.status_code in (200, 201, 202), (url, response.get_data(as_text=True))
    return response.get_json()


def finished(client, task_id: str, state: str) -> dict | None:
    run = client.get(f"/api/v1/runs/{task_id}").get_json()
    return run if run.get("state") == state and (run.get("result") or run.get("traceback")) else None


def storable(text: str) -> str:
    """``text`` for a schedule or a URL: without lone surrogates, which neither SQL nor URLs carry."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def nameable(text: str) -> str:
    """``text`` as a schedule's name and description may hold it: no control characters (NUL
    included, which PostgreSQL cannot store); the schedules API refuses them there."""
    return "".join(char for char in storable(text) if unicodedata.category(char) != "Cc")


def create_everything(client, text: str, queue: str) -> dict[str, str]:
    """Staged work, a schedule and runs carrying ``text``, through the JSON API; where each is shown.

    The API refuses a lone surrogate in any operator input (docs/api.md, "Input rules"), so what is
    sent is ``text`` as an operator can send it: with U+FFFD in its place.
    """
    text = storable_text = storable(text)
    item = post_json(
        client, "/api/v1/staging", {"task": "tasks.add", "args": [text], "kwargs": {"y": text}, "note": text}
    )
    schedule = post_json(
        client,
        "/api/v1/schedules",
        {
            "name": nameable(text),
            "task": "tasks.add",
            "kind": "cron",
            "cron": "*/5 * * * *",
            "args": [storable_text, storable_text],
            "description": nameable(text),
        },
    )
    added = post_json(client, "/api/v1/tasks/tasks.add/run", {"args": [text, text]})["task_id"]
    failing = {"kwargs": {"message": text}}
    failed = post_json(client, "/api/v1/tasks/tasks.always_fails/run", failing)["task_id"]
    waiting = post_json(
        client, "/api/v1/tasks/tasks.add/run", {"args": [text], "kwargs": {"y": text}, "queue": queue}
    )
    wait_until(lambda: finished(client, added, "SUCCESS"), timeout=60, what="tasks.add to finish")
    wait_until(lambda: finished(client, failed, "FAILURE"), timeout=60, what="tasks.always_fails to fail")
    search = {"q": storable_text}  # a query string cannot carry a lone surrogate
    worker, every_5 = {"worker": storable_text}, {"kind": "cron", "cron": "*/5 * * * *"}
    return {
        "staging item": f"/staging/{item['id']}/edit",
        "schedule": f"/schedules/{schedule['id']}/edit",
        "sum run": f"/history/runs/{added}",
        "sum row": f"/history/live?live={added}",
        "sum state": f"/tasks/-/runs/{added}/state",
        "failed run": f"/history/runs/{failed}",
        "failed row": f"/history/live?live={failed}",
        "failed state": f"/tasks/-/runs/{failed}/state",
        "waiting delete": f"/queues/{queue}/messages/{waiting['task_id']}/delete",
        "waiting stage": f"/queues/{queue}/messages/{waiting['task_id']}/stage",
        "task search": "/tasks/?" + urlencode(search),
        "history search": "/history/?" + urlencode({**search, "task": storable_text, **worker}),
        "schedule preview": "/schedules/preview?" + urlencode({"task": storable_text, **every_5}),
        "audit search": "/audit/?" + urlencode({"who": storable_text, "action": storable_text}),
    }


# Pages that list everything: fetched once with benign data only, then with hostile data too.
LISTS = {
    "overview": "/",
    "staging": "/staging/",
    "staging list": "/staging/list",
    "staging dispatcher": "/staging/dispatcher",
    "schedules": "/schedules/",
    "history": "/history/",
    "history charts": "/history/charts",
    "audit": "/audit/",
    "queues": "/queues/",
    "tasks": "/tasks/",
    "workers": "/workers/",
}
# Where the hostile text must be shown, so that the test cannot pass by showing nothing: on the
# full page, in the fragment, or both; and as sent, or as schedules and URLs can carry it.
BOTH, PAGE = ("page", "fragment"), ("page",)
SHOWN = {
    "staging": ("text", BOTH),
    "staging list": ("text", BOTH),
    "staging item": ("text", BOTH),
    "schedules": ("storable", BOTH),
    "schedule": ("storable", BOTH),
    "sum run": ("text", BOTH),
    "sum row": ("text", BOTH),
    "sum state": ("text", BOTH),
    "failed run": ("text", BOTH),
    "failed row": ("text", BOTH),
    "failed state": ("text", BOTH),
    "waiting queue": ("text", BOTH),
    "task search": ("storable", BOTH),
    "history search": ("storable", BOTH),
    "schedule preview": ("storable", BOTH),
    "audit search": ("storable", PAGE),  # the fragment is the matching rows only
}
SHOWN_LENGTH = 60  # lists cut long values; the first characters are always shown


def fetch_all(client, urls: dict[str, str]) -> dict[tuple[str, bool], Page]:
    """Each address as a full page and as the fragment HTMX asks for."""
    pages = {}
    for key, url in urls.items():
        for fragment in (False, True):
            response = client.get(url, headers={"HX-Request": "true"} if fragment else {})
            assert response.status_code in (200, 286), (key, fragment, response.status_code)  # 286: poll ends
            pages[key, fragment] = Page(response.get_data(as_text=True))
    return pages


@pytest.mark.parametrize("payload", list(PAYLOADS))
def test_hostile_data_is_shown_as_text_on_every_page(client, declare_queue, recorder, payload):
    text = PAYLOADS[payload]
    benign_queue = declare_queue(f"held-{uuid.uuid4().hex[:8]}")
    hostile_queue = declare_queue(f"held-{uuid.uuid4().hex[:8]}")
    lists = {**LISTS, "benign queue": f"/queues/{benign_queue}", "waiting queue": f"/queues/{hostile_queue}"}
    benign_urls = create_everything(client, BENIGN, benign_queue)
    before = fetch_all(client, {**lists, **benign_urls})
    hostile_urls = create_everything(client, text, hostile_queue)
    after = fetch_all(client, {**lists, **hostile_urls})

    for (key, fragment), page in after.items():
        where = f"{key} ({'fragment' if fragment else 'page'})"
        assert attribute_problems(page) == [], where
        baseline = before[("benign queue" if key == "waiting queue" else key), fragment]
        assert page.counted() == baseline.counted(), f"{where}: a value added elements"
        form, places = SHOWN.get(key, ("", ()))
        if ("fragment" if fragment else "page") in places:
            # What the API accepted (see create_everything).
            expected = nameable(text) if key in ("schedules", "schedule") else storable(text)
            assert page.shows(expected[:SHOWN_LENGTH]), f"{where}: the hostile text is not shown"


def test_a_schedule_named_with_a_lone_surrogate_is_refused_naming_the_name(client):
    body = {"name": "a\ud800b", "task": "tasks.add", "kind": "cron", "cron": "*/5 * * * *", "args": [1, 2]}
    response = client.post("/api/v1/schedules", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 422 and response.get_json()["field"] == "name"
