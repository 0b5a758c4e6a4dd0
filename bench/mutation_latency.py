"""Claim: a staging drop through gunicorn costs about what any authenticated POST costs.

Starts its own redis-server, migrates a fresh SQLite database, stages ``--items`` items and serves
the app with gunicorn as the Procfile's web line runs it, with basic auth (werkzeug's default
hash). ``--operators`` operators sign in, each with a session of its own and the CSRF token of the
page, as a browser does. Then, all at once for ``--seconds``: operator 0 drags, one drop after
another, each POST as ``static/staging.js`` sends it (htmx headers, the new neighbours, the
version its page shows after the previous answer); the others alternate the no-op ("Save policy"
on the staging page with the policy as it is: authenticated, CSRF-checked, audited, changing
nothing) and the run form of ``tasks.add``, sent to ``reports``, a queue nothing consumes here.

Prints p50/p99 of each, their p99 over the no-op's, answer sizes and session cookie rewrites.
``--profile`` runs each in-process under cProfile and prints where its time goes.

    .venv/bin/python bench/mutation_latency.py [--items 1000] [--operators 8] [--seconds 40]
    .venv/bin/python bench/mutation_latency.py --profile [--items 1000] [--rounds 30] [--top 40]
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import html.parser
import http.client
import itertools
import pstats
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from werkzeug.security import generate_password_hash  # noqa: E402

from tests.support.servers import (  # noqa: E402
    BIN,
    GunicornServer,
    RedisServer,
    host_environment,
    procfile_gunicorn_options,
)

PREFIX = "bench-mutations:"
QUEUE = "reports"  # declared by celery_app.py; the bench starts no worker, so nothing consumes it
STALE = "changed since you loaded it"
# The version static/staging.js sends with a drop: the page's seen version (or, before it existed,
# the list's data-version, so the baseline can be measured on an older checkout).
VERSION = re.compile(r'id="staging-seen-version"[^>]*value="(\d+)"|class="staging-list" data-version="(\d+)"')


def page_version(html: str) -> str:
    found = VERSION.search(html)
    assert found, html[:500]
    return found.group(1) or found.group(2)


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class FormFields(html.parser.HTMLParser):
    """The fields a browser submits for the form whose ``action`` ends with ``action``."""

    def __init__(self, action: str):
        super().__init__()
        self.action, self.inside, self.fields, self.open = action, False, {}, None  # open: select/textarea

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = (a.get("action") or "").endswith(self.action)
        elif self.inside and tag == "option" and self.open:
            if self.open not in self.fields or "selected" in a:  # the first, unless one is selected
                self.fields[self.open] = a.get("value") or ""
        elif self.inside and a.get("name") and tag in ("select", "textarea"):
            self.open = a["name"]
            self.fields.pop(self.open, None)
        elif self.inside and a.get("name") and tag == "input" and self._submitted(a):
            self.fields[a["name"]] = a.get("value") or ""

    @staticmethod
    def _submitted(a: dict) -> bool:
        return a.get("type") not in ("radio", "checkbox", "submit", "button") or "checked" in a

    def handle_data(self, data):
        if self.open and self.inside and self.lasttag == "textarea":
            self.fields[self.open] = self.fields.get(self.open, "") + data

    def handle_endtag(self, tag):
        self.inside = self.inside and tag != "form"
        self.open = None if tag in ("select", "textarea") else self.open


def form_fields(page: str, action: str) -> dict[str, str]:
    parser = FormFields(action)
    parser.feed(page)
    return parser.fields


class Operator:
    """One browser: a kept-alive connection, its own session cookie, basic credentials."""

    def __init__(self, base: str, user: str, password: str):
        parts = urlsplit(base)
        self.host, self.port, self.root = parts.hostname, parts.port, parts.path
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.cookies: dict[str, str] = {}
        self.session_writes = 0
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        self.csrf = ""

    def request(self, method: str, path: str, body: str | None = None, headers: dict | None = None):
        """(status, body text, seconds); the timing covers sending, serving and reading the answer."""
        headers = {"Authorization": self.auth, **(headers or {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                self.conn.request(method, self.root + path, body, headers)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # an idle kept-alive connection the server closed: a browser reconnects too
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                if attempt == 2:
                    raise
        seconds = time.perf_counter() - started
        self.keep_cookies(response.headers.get_all("Set-Cookie") or ())
        return response.status, data.decode(), seconds

    def keep_cookies(self, set_cookies) -> None:
        for raw in set_cookies:
            for name, morsel in SimpleCookie(raw).items():
                self.cookies[name] = morsel.value
                self.session_writes += name == "session"

    def sign_in(self) -> str:
        """Open the staging page and the task page as a browser does: keeps the CSRF token of the
        page's <meta>, the policy form's fields (the no-op) and the run form's (the run)."""
        status, page, _ = self.request("GET", "/staging/")
        assert status == 200, status
        self.csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
        self.policy = form_fields(page, "/staging/dispatcher")
        status, task_page, _ = self.request("GET", "/tasks/tasks.add")
        assert status == 200, status
        self.run = form_fields(task_page, "/tasks/tasks.add/run") | {"p__x": "2", "p__y": "3", "queue": QUEUE}
        return page

    def htmx_post(self, path: str, fields: dict, target: str, trigger: str | None = None):
        headers = {
            "HX-Request": "true",
            "HX-Current-URL": f"http://{self.host}:{self.port}{self.root}/staging/",
            "HX-Target": target,
            "X-CSRFToken": self.csrf,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        if trigger:
            headers["HX-Trigger"] = trigger
        return self.request("POST", path, urlencode(fields), headers)


class InProcessOperator(Operator):
    """The same browser against the app in this process (Flask's test client), for profiling."""

    def __init__(self, app, user: str, password: str):
        super().__init__("http://localhost:80", user, password)
        self.client = app.test_client()

    def request(self, method: str, path: str, body: str | None = None, headers: dict | None = None):
        started = time.perf_counter()
        response = self.client.open(
            path, method=method, data=body, headers={"Authorization": self.auth, **(headers or {})}
        )
        seconds = time.perf_counter() - started
        self.keep_cookies(response.headers.getlist("Set-Cookie"))
        return response.status_code, response.get_data(as_text=True), seconds


class Dragger:
    """Drop after drop, each with the version the page shows (from the previous answer)."""

    def __init__(self, ids: list[str], page: str):
        self.ids, self.version, self.rng, self.stale = ids, page_version(page), random.Random(0), 0

    def drop(self, operator: Operator):
        item, before, after = self.rng.sample(self.ids, 3)
        fields = {"after": after, "before": before, "version": self.version}
        trigger = f"staging-item-{self.rng.randint(1, 500)}"  # the dragged <li>'s id, as htmx sends it
        answer = operator.htmx_post(f"/staging/{item}/move", fields, "staging-list-region", trigger)
        self.version = page_version(answer[1])
        self.stale += STALE in answer[1]
        return answer


def noop(operator: Operator):
    return operator.htmx_post("/staging/dispatcher", operator.policy, "staging-dispatcher")


def run(operator: Operator):
    answer = operator.htmx_post("/tasks/tasks.add/run", operator.run, "run-panel")
    assert "field-error" not in answer[1], answer[1][:2000]
    return answer


class Samples:
    def __init__(self):
        self.lock, self.recording = threading.Lock(), threading.Event()
        self.seconds: dict[str, list[float]] = {"noop": [], "move": [], "run": []}
        self.sizes: dict[str, list[int]] = {"noop": [], "move": [], "run": []}

    def add(self, kind: str, answer: tuple[int, str, float]) -> None:
        status, body, seconds = answer
        assert status == 200, (kind, status, body[:300])
        if self.recording.is_set():
            with self.lock:
                self.seconds[kind].append(seconds * 1000)
                self.sizes[kind].append(len(body.encode()))


def stage_items(overrides: dict, n: int) -> list[str]:
    from dashboard.redis_client import get_celery, get_redis
    from dashboard.setup import create_process_app
    from dashboard.staging import service

    app = create_process_app(overrides)
    with app.app_context():
        client, celery_app = get_redis(), get_celery()
        ids = []
        for i in range(n):
            data = {"task": "tasks.add", "args": [i, 1], "note": f"bench item {i}"}
            item = service.build_item(celery_app, data, staged_by="bench", max_bytes=65536)
            service.stage_item(client, PREFIX, item)
            ids.append(item.id)
    return ids


def setup(work: Path, items: int, operators: int):
    """Redis, a migrated SQLite database, the staged items and the operators' accounts."""
    redis_server = RedisServer(work / "redis").start()
    passwords = {f"op{n}": f"pw-{n}" for n in range(operators)}
    users = ",".join(f"{u}:operator:{generate_password_hash(p)}" for u, p in passwords.items())
    env = host_environment(redis_server.url, f"sqlite:///{work / 'taskdeck.db'}", PREFIX, "bench-secret")
    env.update(AUTH_MODE="basic", AUTH_BASIC_USERS=users, FLOWER_URL="")
    upgrade = [str(BIN / "flask"), "--app", "wsgi:app", "db", "upgrade", "heads"]
    subprocess.run(upgrade, cwd=ROOT, env=env, check=True, capture_output=True)  # as a deploy does
    keys = ("REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "DATABASE_URL", "SECRET_KEY")
    overrides = {k: env[k] for k in keys} | {"TASKDECK_KEY_PREFIX": PREFIX}
    overrides |= {"AUTH_MODE": "basic", "AUTH_BASIC_USERS": users, "FLOWER_URL": None}
    ids = stage_items(overrides, items)
    return redis_server, env, overrides, passwords, ids


def measure(args, work: Path, env: dict, passwords: dict, ids: list[str]) -> None:
    server = GunicornServer(env, work / "gunicorn.log", options=procfile_gunicorn_options()).start()
    try:
        operators = [Operator(server.url, user, pw) for user, pw in passwords.items()]
        pages = [op.sign_in() for op in operators]
        signed_in = sum(op.session_writes for op in operators)
        samples, stop, errors = Samples(), threading.Event(), []
        dragger = Dragger(ids, pages[0])

        def work_loop(operator: Operator, kinds):
            try:
                for n in itertools.count():
                    if stop.is_set():
                        return
                    kind, call = kinds[n % len(kinds)]
                    samples.add(kind, call(operator))
            except BaseException as exc:  # the bench stops at the first failure, and says why
                errors.append(exc)
                stop.set()

        plans = [[("move", dragger.drop)]]  # operator 0 drags; the others alternate the two
        plans += [[("noop", noop), ("run", run)][:: 1 if n % 2 else -1] for n in range(1, len(operators))]
        threads = [
            threading.Thread(target=work_loop, args=pair) for pair in zip(operators, plans, strict=True)
        ]
        for thread in threads:
            thread.start()
        stop.wait(args.warmup)
        writes_before = sum(op.session_writes for op in operators)
        stale_before = dragger.stale
        samples.recording.set()
        stop.wait(args.seconds)
        samples.recording.clear()
        writes = sum(op.session_writes for op in operators) - writes_before
        stale = dragger.stale - stale_before
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        if errors:
            raise errors[0]
    finally:
        server.stop()
    report(args, samples, signed_in, writes, stale)


def report(args, samples: Samples, signed_in: int, writes: int, stale: int) -> None:
    total = sum(len(s) for s in samples.seconds.values())
    options = " ".join(procfile_gunicorn_options())
    print(f"{args.items} staged items, {args.operators} operators, gunicorn {options}")
    print(f"{'request':<8} {'n':>6} {'p50 ms':>9} {'p99 ms':>9} {'answer bytes':>13}")
    p99 = {}
    for kind, label in (("noop", "no-op"), ("move", "move"), ("run", "run")):
        times = samples.seconds[kind]
        p99[kind] = percentile(times, 99)
        size = statistics.median(samples.sizes[kind])
        print(f"{label:<8} {len(times):>6} {statistics.median(times):>9.1f} {p99[kind]:>9.1f} {size:>13,.0f}")
    print(f"move p99 / no-op p99: {p99['move'] / p99['noop']:.2f}x")
    print(f"run p99 / no-op p99:  {p99['run'] / p99['noop']:.2f}x")
    print(f"stale drops: {stale} of {len(samples.seconds['move'])}")
    print(f"session cookies set: {signed_in} signing in, {writes} in {total} measured requests")


def profile(args, overrides: dict, passwords: dict, ids: list[str]) -> None:
    """Drops, no-ops and runs in-process under cProfile: where the time of each goes."""
    from dashboard import create_app

    operator = InProcessOperator(create_app(overrides), *next(iter(passwords.items())))
    dragger = Dragger(ids, operator.sign_in())
    for name, call in (("move", dragger.drop), ("no-op", noop), ("run", run)):
        for _ in range(3):
            call(operator)  # warm: scripts loaded, templates compiled, connections open
        profiler, writes = cProfile.Profile(), operator.session_writes
        started = time.perf_counter()
        profiler.enable()
        for _ in range(args.rounds):
            assert call(operator)[0] == 200
        profiler.disable()
        per_request = (time.perf_counter() - started) * 1000 / args.rounds
        writes = operator.session_writes - writes
        print(f"\n{name}: {per_request:.1f} ms a request under the profiler; session cookie set {writes}x")
        breakdown(pstats.Stats(profiler), args.rounds)
        if args.top:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.top)


# (label, file suffix, function name): the parts of a request worth naming.
PARTS = (
    ("templates rendered", "flask/templating.py", "_render"),
    ("audit insert + commit", "dashboard/portal/service.py", "record_audit"),
    ("SQL statements", "~", "<method 'execute' of 'sqlite3.Cursor' objects>"),
    ("SQLite COMMIT", "~", "<method 'commit' of 'sqlite3.Connection' objects>"),
    ("audit pruning", "dashboard/portal/service.py", "maybe_prune_audit"),
    ("Redis commands", "redis/client.py", "execute_command"),
    ("Redis pipelines", "redis/client.py", "execute"),
    ("session saved", "flask/sessions.py", "save_session"),
    ("session opened", "flask/sessions.py", "open_session"),
    ("CSRF check", "flask_wtf/csrf.py", "protect"),
    ("identity", "dashboard/portal/permissions.py", "load_identity"),
)


def breakdown(stats: pstats.Stats, rounds: int) -> None:
    print(f"  {'part':<24} {'calls/request':>14} {'ms/request':>11}")
    for label, suffix, function in PARTS:
        calls = cumulative = 0.0
        for (filename, _line, name), (_cc, ncalls, _tt, ct, _callers) in stats.stats.items():
            if name == function and filename.endswith(suffix):
                calls, cumulative = calls + ncalls, cumulative + ct
        print(f"  {label:<24} {calls / rounds:>14.1f} {cumulative * 1000 / rounds:>11.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--operators", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--profile", action="store_true", help="profile in-process instead")
    parser.add_argument("--rounds", type=int, default=30, help="requests profiled per kind")
    parser.add_argument("--top", type=int, default=0, help="also print the N costliest functions")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mutation-bench-"))
    redis_server = None
    try:
        redis_server, env, overrides, passwords, ids = setup(work, args.items, args.operators)
        if args.profile:
            profile(args, overrides, passwords, ids)
        else:
            measure(args, work, env, passwords, ids)
    finally:
        if redis_server is not None:
            redis_server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
