"""History search and error groups at 1,000,000 rows: the first page of typical searches and the
errors page, each against the naive way measured in the same run.

Run: .venv/bin/python bench/history_search.py [--database sqlite|postgresql] [rows]

Baselines: a search without its scan bound (text terms read the whole table), and error groups
made the naive way (every failure's exception read and grouped in Python, no stored key).
"""

from __future__ import annotations

import random
import sqlite3
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import history_db  # noqa: E402
from bench.history_paging import NAMES, STATES, fill_postgresql, timed  # noqa: E402

COLUMNS = (
    "task_id, name, state, args, kwargs, queue, worker, retries, exception, error_group,"
    " sent_at, finished_at, runtime, origin, created_at, updated_at"
)
EXCEPTIONS = [
    "ConnectionError('partner {n} refused the connection')",
    "TimeoutError('timed out after {n}s')",
    "KeyError('order {n}')",
    "ValueError('row {n}: bad date')",
    "RuntimeError('disk {n} full')",
]
SEARCHES = {
    "fields: state:FAILURE task:tasks.flaky": "state:FAILURE task:tasks.flaky",
    "pattern: task:tasks.send* -state:SUCCESS": "task:tasks.send* -state:SUCCESS",
    "OR of states, one worker": "state:FAILURE OR state:RETRY worker:worker1@bench",
    'common text: exception:"timed out"': 'exception:"timed out"',
    "kwargs.partner=acme (1 in 50 rows)": "kwargs.partner=acme",
    'rare text: args:"[4242, 2]" (one row)': 'args:"[4242, 2]"',
    "text in a time range: since:2h partner": "since:2h partner",
}


def synthetic_rows(rows: int):
    from dashboard.history.errors import group_key

    rng = random.Random(5)
    start = datetime.now(UTC) - timedelta(seconds=rows * 1.7)  # the newest run is from now
    for index in range(rows):
        at = start + timedelta(seconds=index * 1.7)
        state = rng.choice(STATES)
        exception = rng.choice(EXCEPTIONS).format(n=rng.randrange(10_000)) if state == "FAILURE" else None
        kwargs = '{"partner": "acme"}' if index % 50 == 0 else '{"partner": "other"}'
        yield (
            str(uuid.UUID(int=rng.getrandbits(128))), NAMES[index % 5], state, f"[{index}, 2]", kwargs,
            "celery", f"worker{index % 4}@bench", 0, exception, group_key(exception) if exception else None,
            at, at, 0.01, "other", at, at,
        )  # fmt: skip


def fill(url: str, rows: int) -> None:
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.removeprefix("sqlite:///"))
        connection.execute("PRAGMA journal_mode=WAL")
        marks = ",".join("?" * 16)
        batch = []
        for row in synthetic_rows(rows):
            stamp = row[10].strftime("%Y-%m-%d %H:%M:%S.%f")
            batch.append(row[:10] + (stamp, stamp) + row[12:14] + (stamp, stamp))
            if len(batch) == 50_000:
                connection.executemany(f"INSERT INTO task_runs ({COLUMNS}) VALUES ({marks})", batch)
                batch = []
        if batch:
            connection.executemany(f"INSERT INTO task_runs ({COLUMNS}) VALUES ({marks})", batch)
        connection.commit()
        connection.execute("ANALYZE")
        connection.close()
        return
    fill_postgresql(url, rows, COLUMNS, synthetic_rows)


def main(rows: int, kind: str) -> None:
    with history_db.migrated_app(kind, "history-search") as (app, url):
        started = time.perf_counter()
        fill(url, rows)
        took = time.perf_counter() - started
        print(f"machine: 2 cores; {history_db.label(url)}; {rows:,} rows in {took:.0f} s")
        with app.app_context():
            measure(rows)


def measure(rows: int) -> None:
    from sqlalchemy import select

    from dashboard.core.runs import TaskRun
    from dashboard.extensions import db
    from dashboard.history import errors, query, service

    session = db.session
    print(f"\nsearch, first page of {service.PAGE_SIZE} (median of 15)", end="")
    print(f"; text terms read the newest {query.SCAN_ROWS:,} runs")
    for label, text in SEARCHES.items():
        filters = service.Filters(q=text)
        page = timed(lambda filters=filters: service.list_runs(session, filters))
        found = len(service.list_runs(session, filters).runs)
        line = f"  {label}: {page:.2f} ms ({found} shown)"
        if filters.scanned:
            tree = query.parse(text)

            def unbounded(tree=tree):
                statement = select(TaskRun).where(query.clause(tree)).order_by(TaskRun.seq.desc())
                return list(session.scalars(statement.limit(service.PAGE_SIZE + 1)))

            whole = timed(unbounded, repeat=3)
            line += f"; without the bound {whole:.2f} ms ({whole / page:.1f}x)"
        print(line)

    print("\nerror groups (median of 15)")
    for window in ("hour", "day", "week"):
        shown = timed(lambda window=window: errors.groups(session, window))
        count = sum(g.count for g in errors.groups(session, window))
        print(f"  window {window}: {shown:.2f} ms ({count:,} failures)")

    def naive():
        counts: Counter = Counter()
        for (exception,) in session.execute(select(TaskRun.exception).where(TaskRun.state == "FAILURE")):
            counts[errors.normalise(exception or "")] += 1
        return counts.most_common(100)

    week = timed(lambda: errors.groups(session, "week"))
    baseline = timed(naive, repeat=3)
    print(f"  naive (every failure read and normalised): {baseline:.2f} ms", end="")
    print(f" -> {baseline / week:.0f}x the week window")
    session.remove()


if __name__ == "__main__":
    arguments = history_db.parser(__doc__.splitlines()[0])
    arguments.add_argument("rows", nargs="?", type=int, default=1_000_000)
    options = arguments.parse_args()
    main(options.rows, options.database)
