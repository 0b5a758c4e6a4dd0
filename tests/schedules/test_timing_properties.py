"""Schedule timing as properties: random cron expressions, zones and instants against croniter.

Away from a clock change the next run is what croniter computes from the local time. Near one, the
module's rule applies: a wall time that happens twice runs once (its first occurrence), a wall time
that does not exist runs at the moment the clocks jump. The rule is checked against an oracle of
our own: croniter's plain wall-clock matches mapped to instants by scanning the zone's offsets.
"""

from __future__ import annotations

import bisect
import functools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dashboard.core.bounds import MAX_DELAY_SECONDS
from dashboard.schedules.timing import Timing, cron_after, cron_fields

PROPERTIES = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
ZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # moves its clocks by half an hour
    "Asia/Shanghai",
    "Asia/Kolkata",
    "America/Sao_Paulo",  # changed its clocks at midnight until 2019
    "Pacific/Chatham",
    "Asia/Magadan",  # put its clocks back by two hours in 2014
)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2040, 12, 31, 23, 59, 59, tzinfo=UTC)
SECOND = timedelta(seconds=1)


# ---------------------------------------------------------------- the zones' clock changes


@functools.cache
def transitions(name: str) -> tuple[datetime, ...]:
    """Every instant from 2000 to 2042 at which ``name``'s UTC offset changes (found day by day)."""
    tz = ZoneInfo(name)
    found = []
    day = EARLIEST - timedelta(days=1)
    while day < datetime(2043, 1, 1, tzinfo=UTC):
        following = day + timedelta(days=1)
        if day.astimezone(tz).utcoffset() != following.astimezone(tz).utcoffset():
            lo, hi = day, following  # offset(lo) differs from offset(hi): narrow to one second
            while hi - lo > SECOND:
                mid = lo + (hi - lo) / 2
                mid = mid.replace(microsecond=0)
                if mid.astimezone(tz).utcoffset() == lo.astimezone(tz).utcoffset():
                    lo = mid
                else:
                    hi = mid
            found.append(hi)
        day = following
    return tuple(found)


def wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def changes_near(name: str, start: datetime, end: datetime) -> bool:
    """Whether ``name`` changes its offset between ``start`` and ``end`` (a few hours' margin)."""
    changes = transitions(name)
    index = bisect.bisect_left(changes, start - timedelta(hours=3))
    return index < len(changes) and changes[index] <= end + timedelta(hours=3)


def by_the_rule(local: datetime, name: str) -> datetime:
    """The instant the documented rule gives a wall time: its only or first occurrence, or, when the
    clocks skip it, the moment they jump."""
    tz = ZoneInfo(name)
    occurrences = [
        instant
        for instant in (local.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1))
        if wall(instant, tz) == local
    ]
    if occurrences:
        return min(occurrences)
    jumps = [t for t in transitions(name) if wall(t - timedelta(microseconds=1), tz) < local < wall(t, tz)]
    assert len(jumps) == 1, f"{local} in {name} neither exists nor falls in one gap"
    return jumps[0]


def next_by_the_rule(expression: str, name: str, after: datetime) -> datetime:
    """The first run strictly after ``after``: croniter's wall-clock matches, mapped by the rule."""
    text, with_seconds = cron_fields(expression)
    # The rule's mapping never runs backwards in time: a wall time before ``after``'s maps to an
    # instant before it, so the first match from a little earlier that maps beyond ``after`` is it.
    start = wall(after, ZoneInfo(name)) - timedelta(minutes=1)
    matches = croniter(text, start, second_at_beginning=with_seconds)
    while True:
        instant = by_the_rule(matches.get_next(datetime), name)
        if instant > after:
            return instant


# ---------------------------------------------------------------- strategies


def cron_field(lo: int, hi: int, values: st.SearchStrategy[int] | None = None) -> st.SearchStrategy[str]:
    """One cron field over ``lo..hi``: ``*``, ``*/n``, a value, a range, a stepped range, or a list."""
    values = st.integers(lo, hi) if values is None else values
    steps = st.integers(1, max(hi - lo, 1))
    ranges = st.tuples(values, values).map(sorted).map(lambda pair: f"{pair[0]}-{pair[1]}")
    single = st.one_of(
        values.map(str),
        ranges,
        st.tuples(ranges, steps).map(lambda pair: f"{pair[0]}/{pair[1]}"),
    )
    return st.one_of(
        st.just("*"),
        steps.map(lambda n: f"*/{n}"),
        single,
        st.lists(single, min_size=2, max_size=3).map(",".join),
    )


# Hours 0-3 more often: that is where the clocks change (and 23-0 in Sao Paulo, 2:45 in Chatham).
hours = st.one_of(st.integers(0, 3), st.integers(0, 23))
crons = st.builds(
    lambda second, minute, hour, day, month, weekday: " ".join(
        part for part in (second, minute, hour, day, month, weekday) if part is not None
    ),
    st.none() | cron_field(0, 59),
    cron_field(0, 59, st.one_of(st.sampled_from([0, 30, 45]), st.integers(0, 59))),
    cron_field(0, 23, hours),
    st.one_of(st.just("*"), cron_field(1, 28)),  # days 29-31 may never come (Feb 30): not this test's
    st.one_of(st.just("*"), cron_field(1, 12)),
    st.one_of(st.just("*"), cron_field(0, 6)),
)
zones = st.sampled_from(ZONES)
anywhere = st.datetimes(min_value=EARLIEST.replace(tzinfo=None), max_value=LATEST.replace(tzinfo=None)).map(
    lambda moment: moment.replace(tzinfo=UTC)
)


@st.composite
def zones_and_instants(draw) -> tuple[str, datetime]:
    """A zone and an instant in 2000-2040: anywhere, or within a few hours of a clock change."""
    name = draw(zones)
    changes = [t for t in transitions(name) if t.year <= 2040]
    if changes and draw(st.booleans()):
        change = draw(st.sampled_from(changes))
        return name, change + draw(st.timedeltas(-timedelta(hours=4), timedelta(hours=4)))
    return name, draw(anywhere)


# ---------------------------------------------------------------- cron


@PROPERTIES
@given(expression=crons, where=zones_and_instants())
def test_next_cron_run_is_croniters_away_from_clock_changes_and_the_rule_near_them(expression, where):
    name, after = where
    tz = ZoneInfo(name)
    due = cron_after(expression, tz, after)
    assert due is not None and due > after
    text, with_seconds = cron_fields(expression)
    direct = croniter(text, after.astimezone(tz), second_at_beginning=with_seconds).get_next(datetime)
    if changes_near(name, after, max(due, direct.astimezone(UTC))):
        event("near a clock change")
    else:
        event("no clock change")
        assert due == direct.astimezone(UTC)
    assert due == next_by_the_rule(expression, name, after)


@settings(PROPERTIES, max_examples=150)
@given(expression=crons, where=zones_and_instants())
def test_iterated_cron_runs_strictly_increase_and_each_wall_time_runs_once(expression, where):
    name, after = where
    tz = ZoneInfo(name)
    text, with_seconds = cron_fields(expression)
    runs = Timing(kind="cron", cron=expression, timezone=name).upcoming(after, 6)
    assert len(runs) == 6
    assert all(earlier < later for earlier, later in zip([after, *runs], runs, strict=False))
    walls = [wall(run, tz) for run in runs]
    assert len(set(walls)) == len(walls)  # a repeated wall time does not run twice
    for run, local in zip(runs, walls, strict=True):
        if croniter.match(text, local, second_at_beginning=with_seconds):
            # The wall time exists: the run is its first occurrence.
            assert run == local.replace(tzinfo=tz, fold=0).astimezone(UTC)
        else:
            # Only a jump of the clocks runs at a time the expression does not name.
            event("ran at the jump")
            assert run in transitions(name)
            assert wall(run - timedelta(microseconds=1), tz) < local


@st.composite
def clock_changes(draw, forward: bool) -> tuple[str, datetime, datetime]:
    """A zone, one of its clock changes (forward: a gap; backward: a repeated span) and a wall time
    on a whole minute inside the gap or the repeated span."""
    name = draw(st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]))
    tz = ZoneInfo(name)
    changes = [
        t
        for t in transitions(name)
        if (wall(t, tz) > wall(t - SECOND, tz) + SECOND) == forward and t.year <= 2040
    ]
    change = draw(st.sampled_from(changes))
    before, after = wall(change - SECOND, tz) + SECOND, wall(change, tz)
    span = int(abs(after - before).total_seconds() // 60)
    start = min(before, after)
    return name, change, start + timedelta(minutes=draw(st.integers(0, span - 1)))


@PROPERTIES
@given(clock_changes(forward=True))
def test_a_wall_time_the_clocks_skip_runs_at_the_moment_they_jump(where):
    name, change, local = where
    expression = f"{local.minute} {local.hour} {local.day} {local.month} *"
    assert cron_after(expression, ZoneInfo(name), change - timedelta(days=2)) == change
    daily = Timing(kind="cron", cron=f"{local.minute} {local.hour} * * *", timezone=name)
    runs = daily.upcoming(change - timedelta(hours=2), 2)
    assert runs[0] == change and runs[1] - runs[0] > timedelta(hours=20)


@PROPERTIES
@given(clock_changes(forward=False))
def test_a_wall_time_that_happens_twice_runs_once_at_its_first_occurrence(where):
    name, change, local = where
    tz = ZoneInfo(name)
    first = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = local.replace(tzinfo=tz, fold=1).astimezone(UTC)
    assert first < change <= second
    daily = Timing(kind="cron", cron=f"{local.minute} {local.hour} * * *", timezone=name)
    runs = daily.upcoming(first - timedelta(hours=2), 2)
    assert runs[0] == first and runs[1] > second + timedelta(hours=20)
    assert daily.next_after(first) == runs[1]  # from inside the repeated span too
    assert daily.next_after(second - SECOND) == runs[1]


@st.composite
def inside_repeated_spans(draw) -> tuple[str, datetime]:
    """A zone and an instant in the second pass of a span of wall time the clocks repeat."""
    name = draw(st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Magadan"]))
    tz = ZoneInfo(name)
    changes = [t for t in transitions(name) if wall(t, tz) < wall(t - SECOND, tz) and t.year <= 2040]
    change = draw(st.sampled_from(changes))
    repeated = wall(change - SECOND, tz) + SECOND - wall(change, tz)
    return name, change + draw(st.timedeltas(timedelta(0), repeated - timedelta(microseconds=1)))


# Expressions that match (nearly) every second: the most wall times a repeated span can hold.
dense_crons = st.builds(
    "{} {} * * * *".format,
    st.sampled_from(["*", "*/1", "0-59", "1-59", "0-58", "*/2"]),
    st.sampled_from(["*", "0-59", "1-59"]),
)


@settings(PROPERTIES, max_examples=25)
@given(expression=dense_crons, where=inside_repeated_spans())
def test_a_run_follows_an_instant_inside_a_repeated_span_however_dense_the_expression(expression, where):
    name, after = where
    due = cron_after(expression, ZoneInfo(name), after)
    assert due is not None and due > after
    assert due == next_by_the_rule(expression, name, after)


# ---------------------------------------------------------------- interval


intervals = st.one_of(st.integers(1, 3600), st.integers(1, MAX_DELAY_SECONDS))


@PROPERTIES
@given(every=intervals, anchor=anywhere, now=anywhere, name=zones)
def test_interval_runs_are_exactly_every_seconds_apart_on_the_anchors_grid(every, anchor, now, name):
    step = timedelta(seconds=every)
    timing = Timing(kind="interval", every_seconds=every, timezone=name)  # the zone plays no part
    runs = timing.upcoming(now, 5, anchor)
    assert runs[0] > now
    if anchor > now:
        assert runs[0] == anchor
    else:
        assert runs[0] - step <= now
    assert (runs[0] - anchor) % step == timedelta(0)
    assert [later - earlier for earlier, later in zip(runs, runs[1:], strict=False)] == [step] * 4


@PROPERTIES
@given(every=intervals, anchor=anywhere, periods=st.integers(0, 10**9), name=zones)
def test_next_interval_run_after_a_grid_point_is_the_next_grid_point(every, anchor, periods, name):
    step = timedelta(seconds=every)
    periods = min(periods, (datetime(2099, 1, 1, tzinfo=UTC) - anchor) // step - 1)
    timing = Timing(kind="interval", every_seconds=every, timezone=name)
    on_grid = anchor + periods * step
    assert timing.next_after(on_grid, anchor) == on_grid + step
    assert timing.next_after(on_grid - timedelta(microseconds=1), anchor) == on_grid
