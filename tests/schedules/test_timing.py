"""When schedules are due: pure logic with a controlled clock (no waiting for real dates)."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dashboard.schedules.timing import InvalidSchedule, Timing, cron_fields, describe, interval_seconds, zone

NY = ZoneInfo("America/New_York")


def local(instants):
    return [i.astimezone(NY).strftime("%Y-%m-%d %H:%M %Z") for i in instants]


def test_fall_back_fixed_time_job_runs_once_not_twice():
    # 2026-11-01: 01:30 happens twice in New York (EDT, then EST).
    timing = Timing(kind="cron", cron="30 1 * * *", timezone="America/New_York")
    runs = timing.upcoming(datetime(2026, 10, 31, 12, tzinfo=UTC), 3)
    assert local(runs) == ["2026-11-01 01:30 EDT", "2026-11-02 01:30 EST", "2026-11-03 01:30 EST"]


def test_fall_back_clock_inside_repeated_hour_does_not_fire_the_job_again():
    timing = Timing(kind="cron", cron="30 1 * * *", timezone="America/New_York")
    # 01:10 EST: the second pass through the repeated hour, after the EDT 01:30 run.
    now = datetime(2026, 11, 1, 1, 10, tzinfo=NY).replace(fold=1).astimezone(UTC)
    assert local(timing.upcoming(now, 1)) == ["2026-11-02 01:30 EST"]


def test_spring_forward_skipped_time_runs_once_at_next_valid_instant():
    # 2026-03-08: clocks jump from 02:00 EST to 03:00 EDT; 02:30 does not exist.
    timing = Timing(kind="cron", cron="30 2 * * *", timezone="America/New_York")
    runs = timing.upcoming(datetime(2026, 3, 7, 12, tzinfo=UTC), 3)
    assert local(runs) == ["2026-03-08 03:00 EDT", "2026-03-09 02:30 EDT", "2026-03-10 02:30 EDT"]


def test_spring_forward_several_skipped_times_collapse_into_one_run():
    timing = Timing(kind="cron", cron="*/20 * * * *", timezone="America/New_York")
    runs = timing.upcoming(datetime(2026, 3, 8, 6, 50, tzinfo=UTC), 3)  # 01:50 EST
    assert local(runs) == ["2026-03-08 03:00 EDT", "2026-03-08 03:20 EDT", "2026-03-08 03:40 EDT"]


def test_hourly_cron_across_fall_back_keeps_wall_clock_hours():
    timing = Timing(kind="cron", cron="0 * * * *", timezone="America/New_York")
    runs = timing.upcoming(datetime(2026, 11, 1, 4, 30, tzinfo=UTC), 3)  # 00:30 EDT
    assert local(runs) == ["2026-11-01 01:00 EDT", "2026-11-01 02:00 EST", "2026-11-01 03:00 EST"]


def test_cron_with_seconds_field_counts_seconds_first():
    timing = Timing(kind="cron", cron="*/2 * * * * *", timezone="UTC")
    start = datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert timing.upcoming(start, 3) == [start + timedelta(seconds=n) for n in (1, 3, 5)]


def test_interval_stays_on_its_grid():
    anchor = datetime(2026, 1, 1, tzinfo=UTC)
    timing = Timing(kind="interval", every_seconds=10)
    assert timing.next_after(anchor + timedelta(seconds=25), anchor) == anchor + timedelta(seconds=30)
    assert timing.next_after(anchor + timedelta(seconds=30), anchor) == anchor + timedelta(seconds=40)


def test_end_date_stops_runs():
    anchor = datetime(2026, 1, 1, tzinfo=UTC)
    timing = Timing(kind="interval", every_seconds=10, end_at=anchor + timedelta(seconds=25))
    assert timing.upcoming(anchor, 5, anchor) == [
        anchor + timedelta(seconds=10),
        anchor + timedelta(seconds=20),
    ]


@pytest.mark.parametrize("expression", ["61 * * * *", "* * *", "every minute", "* * * * * * *"])
def test_invalid_cron_is_refused_on_the_cron_field(expression):
    with pytest.raises(InvalidSchedule) as refused:
        cron_fields(expression)
    assert refused.value.field == "cron"


@pytest.mark.parametrize("every", [0, -5, "x"])
def test_zero_negative_or_non_numeric_interval_is_refused(every):
    with pytest.raises(InvalidSchedule) as refused:
        interval_seconds(every, "seconds")
    assert refused.value.field == "interval_every"


def test_unknown_time_zone_is_refused():
    with pytest.raises(InvalidSchedule) as refused:
        zone("Mars/Olympus_Mons")
    assert refused.value.field == "timezone"


def test_human_text():
    assert describe(Timing(kind="interval", every_seconds=120)) == "Every 2 minutes"
    assert describe(Timing(kind="cron", cron="30 2 * * *", timezone="America/New_York")).startswith(
        "At 02:30"
    )
