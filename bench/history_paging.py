"""History paging at 1,000,000 rows: keyset (filtered first page, deep cursor) vs OFFSET.

Run: .venv/bin/python bench/history_paging.py [--database sqlite|postgresql] [rows]
(``postgresql`` uses the server in DATABASE_URL, else a throwaway cluster; see history_db.py)
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import history_db  # noqa: E402

STATES = ["SUCCESS"] * 85 + ["FAILURE"] * 10 + ["STARTED"] * 3 + ["RETRY"] * 2
NAMES = [
    "tasks.add",
    "tasks.send_daily_report",
    "tasks.cleanup_expired_data",
    "tasks.long_task",
    "tasks.flaky",
]


COLUMNS = (
    "task_id, name, state, args, kwargs, queue, worker, retries, sent_at,"
    " started_at, finished_at, runtime, origin, created_at, updated_at"
)


def synthetic_rows(rows: int):
    """The same 1,000,000 runs for either database: 20 days, one every 1.7 s, oldest first."""
    rng = random.Random(3)
    start = datetime.now(UTC) - timedelta(days=20)
    for index in range(rows):
        at = start + timedelta(seconds=index * 1.7)
        yield (
            str(uuid.UUID(int=rng.getrandbits(128))),
            NAMES[index % 5],
            rng.choice(STATES),
            f"[{index}, 2]",
            "{}",
            "celery",
            f"worker{index % 4}@bench",
            0,
            at,
            at,
            at,
            0.01,
            "other",
            at,
            at,
        )


def fill_sqlite(url: str, rows: int) -> None:
    connection = sqlite3.connect(url.removeprefix("sqlite:///"))
    connection.execute("PRAGMA journal_mode=WAL")
    statement = f"INSERT INTO task_runs ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    batch = []
    for row in synthetic_rows(rows):
        stamp = row[8].strftime("%Y-%m-%d %H:%M:%S.%f")
        batch.append(row[:8] + (stamp, stamp, stamp) + row[11:13] + (stamp, stamp))
        if len(batch) == 50_000:
            connection.executemany(statement, batch)
            batch = []
    if batch:
        connection.executemany(statement, batch)
    connection.commit()
    connection.execute("ANALYZE")
    connection.close()


def fill_postgresql(url: str, rows: int, columns: str = COLUMNS, source=None) -> None:
    """COPY in one stream (the fast path), then VACUUM ANALYZE so the planner knows the table.
    ``source(rows)`` yields rows of ``columns`` (default: this benchmark's own)."""
    import psycopg

    with psycopg.connect(history_db.psycopg_dsn(url)) as connection:
        with connection.cursor() as cursor, cursor.copy(f"COPY task_runs ({columns}) FROM STDIN") as copy:
            for row in (source or synthetic_rows)(rows):
                copy.write_row(row)
        connection.commit()
        connection.autocommit = True
        connection.execute("VACUUM ANALYZE task_runs")


def timed(action, repeat: int = 15) -> float:
    action()  # warm the page cache
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main(rows: int = 1_000_000, kind: str = "sqlite") -> None:
    with history_db.migrated_app(kind, "history-paging") as (app, url):
        run(app, url, rows)


def run(app, url: str, rows: int) -> None:
    from sqlalchemy import select

    from dashboard.core.runs import TaskRun
    from dashboard.extensions import db
    from dashboard.history import service

    started = time.perf_counter()
    (fill_sqlite if url.startswith("sqlite") else fill_postgresql)(url, rows)
    print(
        f"machine: 2 cores; {history_db.label(url)}; {rows:,} rows loaded and analysed"
        f" in {time.perf_counter() - started:.0f} s"
    )
    with app.app_context():
        session = db.session
        failed = service.Filters(state="FAILURE")
        everything = service.Filters()
        deep_seq = rows // 10  # 90 % of the table is newer than this cursor
        first = timed(lambda: service.list_runs(session, failed))
        deep = timed(lambda: service.list_runs(session, everything, before=deep_seq))
        deep_filtered = timed(lambda: service.list_runs(session, failed, before=deep_seq))
        offset = rows - deep_seq

        def offset_page(filters=everything, skip=offset):
            query = select(TaskRun).where(*filters.clauses()).order_by(TaskRun.seq.desc())
            return list(session.scalars(query.offset(skip).limit(service.PAGE_SIZE)))

        baseline = timed(lambda: offset_page(), repeat=5)
        failed_total = session.query(TaskRun).filter_by(state="FAILURE").count()
        baseline_filtered = timed(lambda: offset_page(failed, int(failed_total * 0.9)), repeat=5)
        db.session.remove()
        db.engine.dispose()
    print(f"filtered newest-first page (state=FAILURE): {first:.2f} ms")
    print(f"deep cursor page (before={deep_seq:,}, {offset:,} newer rows): {deep:.2f} ms")
    print(f"deep cursor page, filtered (state=FAILURE): {deep_filtered:.2f} ms")
    print(f"baseline OFFSET {offset:,}: {baseline:.2f} ms  -> ratio {baseline / deep:.0f}x")
    print(
        f"baseline OFFSET filtered (90 % deep): {baseline_filtered:.2f} ms"
        f"  -> ratio {baseline_filtered / deep_filtered:.0f}x"
    )
    worst = max(first, deep, deep_filtered)
    print(f"target <= 30 ms: {'met' if worst <= 30 else 'NOT met'} (worst {worst:.2f} ms)")


if __name__ == "__main__":
    arguments = history_db.parser(__doc__.splitlines()[0])
    arguments.add_argument("rows", nargs="?", type=int, default=1_000_000)
    options = arguments.parse_args()
    main(options.rows, options.database)
