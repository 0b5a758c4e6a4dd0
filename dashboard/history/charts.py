"""Chart data for the history page and the overview, laid out for inline SVG.

The service computes numbers and coordinates; ``templates/history/_charts.html`` only draws
them, coloured through CSS custom properties so both themes read well.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Float, cast, func, select
from sqlalchemy.orm import Session

from ..core.runs import STATES, TaskRun
from ..timeutil import utcnow

WINDOWS = {"hour": (timedelta(hours=1), 60), "day": (timedelta(days=1), 15 * 60)}  # span, bucket s
RUNTIME_SAMPLE = 20_000  # newest finished runs used for the runtime percentiles
WIDTH, HEIGHT = 600, 120


@dataclass
class Segment:
    state: str
    count: int
    x: float
    y: float
    width: float
    height: float


@dataclass
class Bucket:
    start: datetime
    total: int
    failures: int
    finished: int
    segments: list[Segment] = field(default_factory=list)

    @property
    def failure_rate(self) -> float | None:
        return self.failures / self.finished if self.finished else None


@dataclass
class RuntimeRow:
    name: str
    count: int
    p50: float
    p95: float
    p50_width: float = 0.0
    p95_width: float = 0.0


@dataclass
class Charts:
    window: str
    bucket_seconds: int
    buckets: list[Bucket]
    peak: int
    failure_points: str  # SVG polyline points, failure rate 0..1 over the window
    failure_rate: float | None
    runtimes: list[RuntimeRow]
    slowest_p95: float
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def total(self) -> int:
        return sum(b.total for b in self.buckets)

    @property
    def states_seen(self) -> list[str]:
        seen = {s.state for b in self.buckets for s in b.segments}
        return [s for s in STATES if s in seen]


def _epoch(column, dialect: str):
    if dialect == "sqlite":
        return cast(func.strftime("%s", column), Float)
    return func.extract("epoch", column)


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def build_charts(session: Session, window: str = "hour", *, now: datetime | None = None) -> Charts:
    """Runs per bucket by state, failure rate and runtime p50/p95 per task over ``window``."""
    window = window if window in WINDOWS else "hour"
    span, step = WINDOWS[window]
    now = now or utcnow()
    count = int(span.total_seconds() // step)
    start_epoch = (int(now.timestamp()) // step - count + 1) * step
    since = datetime.fromtimestamp(start_epoch, now.tzinfo)
    dialect = session.get_bind().dialect.name
    bucket = cast(func.floor((_epoch(TaskRun.created_at, dialect) - start_epoch) / step), Float)
    rows = session.execute(
        select(bucket.label("b"), TaskRun.state, func.count())
        .where(TaskRun.created_at >= since)
        .group_by("b", TaskRun.state)
    ).all()
    counts: list[dict[str, int]] = [{} for _ in range(count)]
    for index, state, number in rows:
        if index is None or not 0 <= int(index) < count:
            continue
        counts[int(index)][state] = counts[int(index)].get(state, 0) + int(number)

    peak = max((sum(c.values()) for c in counts), default=0)
    bar_width = WIDTH / count
    buckets = []
    points = []
    for index, by_state in enumerate(counts):
        total = sum(by_state.values())
        failures = by_state.get("FAILURE", 0)
        finished = failures + by_state.get("SUCCESS", 0)
        item = Bucket(
            datetime.fromtimestamp(start_epoch + index * step, now.tzinfo), total, failures, finished
        )
        y = float(HEIGHT)
        for state in STATES:
            number = by_state.get(state, 0)
            if not number:
                continue
            height = HEIGHT * number / peak if peak else 0
            y -= height
            item.segments.append(Segment(state, number, index * bar_width, y, max(bar_width - 1, 1), height))
        buckets.append(item)
        if item.failure_rate is not None:
            x = index * bar_width + bar_width / 2
            points.append(f"{x:.1f},{HEIGHT - HEIGHT * item.failure_rate:.1f}")
    finished = sum(b.finished for b in buckets)
    failure_rate = sum(b.failures for b in buckets) / finished if finished else None

    sample = session.execute(
        select(TaskRun.name, TaskRun.runtime)
        .where(
            TaskRun.created_at >= since,
            TaskRun.runtime.is_not(None),
            TaskRun.state.in_(["SUCCESS", "FAILURE"]),
        )
        .order_by(TaskRun.seq.desc())
        .limit(RUNTIME_SAMPLE)
    ).all()
    per_task: dict[str, list[float]] = {}
    for name, runtime in sample:
        per_task.setdefault(name or "?", []).append(float(runtime))
    runtimes = []
    for name, values in sorted(per_task.items(), key=lambda kv: -len(kv[1]))[:10]:
        values.sort()
        runtimes.append(RuntimeRow(name, len(values), _percentile(values, 0.5), _percentile(values, 0.95)))
    slowest = max((r.p95 for r in runtimes), default=0.0)
    for row in runtimes:
        row.p50_width = 300 * row.p50 / slowest if slowest else 0
        row.p95_width = 300 * row.p95 / slowest if slowest else 0
    return Charts(window, step, buckets, peak, " ".join(points), failure_rate, runtimes, slowest)
