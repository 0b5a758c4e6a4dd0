"""When a schedule runs: pure functions of (schedule spec, instant), no database, no clock of their own.

Every function takes the current instant as an argument so tests (and the preview) control time.
Times in and out are timezone-aware UTC datetimes; wall-clock rules are applied in the schedule's
own IANA zone:

* a wall time that happens twice (DST fall-back) fires once, at its first occurrence;
* a wall time that does not exist (DST spring-forward) fires once, at the first valid instant
  after the gap (the moment the clocks jump), however many skipped times map there.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter
from croniter.croniter import CroniterError
from flask_babel import lazy_gettext as _l

from ..core import bounds
from ..core.bounds import MAX_DELAY_SECONDS, in_range, time_zone
from ..core.errors import Unprocessable

KINDS = ("once", "interval", "cron")
UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


class InvalidSchedule(Unprocessable):
    """A schedule definition that cannot run: bad cron, interval, zone or run time."""


def zone(name: str | None) -> ZoneInfo:
    """The IANA zone called ``name``; InvalidSchedule (field ``timezone``) when unknown."""
    if not name or not isinstance(name, str):
        raise InvalidSchedule(_l("a time zone is required, e.g. UTC or Europe/Paris"), field="timezone")
    return time_zone(name, InvalidSchedule)


def zone_names() -> list[str]:
    """Every IANA zone name, sorted (for the form's suggestions; the tz database is read once)."""
    return sorted(bounds.zone_names())


def cron_fields(expression: str) -> tuple[str, bool]:
    """Normalised cron text and whether it has a leading seconds field; raise InvalidSchedule."""
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidSchedule(_l("a cron expression is required, e.g. */5 * * * *"), field="cron")
    parts = expression.split()
    if len(parts) not in (5, 6):
        raise InvalidSchedule(
            _l(
                "a cron expression has 5 fields (minute hour day month weekday) or 6 with a leading "
                "seconds field; %(count)s given",
                count=len(parts),
            ),
            field="cron",
        )
    text = " ".join(parts)
    with_seconds = len(parts) == 6
    if not croniter.is_valid(text, second_at_beginning=with_seconds):
        raise InvalidSchedule(_l("invalid cron expression '%(cron)s'", cron=text), field="cron")
    return text, with_seconds


def interval_seconds(every: object, unit: object) -> int:
    """The interval in seconds; InvalidSchedule for zero, negative or non-integer values."""
    if unit not in UNITS:
        raise InvalidSchedule(
            _l("unit must be one of %(choices)s", choices=", ".join(UNITS)), field="interval_unit"
        )
    if isinstance(every, bool) or not isinstance(every, int):
        try:
            every = int(str(every).strip())
        except ValueError:
            raise InvalidSchedule(_l("the interval must be a whole number"), field="interval_every") from None
    if every <= 0:
        raise InvalidSchedule(_l("the interval must be greater than zero"), field="interval_every")
    if every * UNITS[unit] > MAX_DELAY_SECONDS:  # beyond it, date arithmetic and the database overflow
        raise InvalidSchedule(
            _l("the interval must be at most %(limit)s seconds (10 years)", limit=MAX_DELAY_SECONDS),
            field="interval_every",
        )
    return every * UNITS[unit]


def wall_to_utc(wall: datetime, tz: ZoneInfo) -> datetime:
    """The instant a naive wall-clock time in ``tz`` denotes, by the DST rules above."""
    first = wall.replace(tzinfo=tz, fold=0)
    second = wall.replace(tzinfo=tz, fold=1)
    first_utc = first.astimezone(UTC)
    if first_utc.astimezone(tz).replace(tzinfo=None) == wall:
        return first_utc  # exists (when ambiguous, fold=0 is the first occurrence)
    # In a gap: fold=1 reads it with the later offset (an instant before the jump), fold=0 with
    # the earlier one (after the jump). The jump is the first whole second whose wall time is
    # at or past ``wall``; zone transitions fall on whole seconds.
    lo, hi = sorted((int(second.astimezone(UTC).timestamp()), int(first_utc.timestamp())))
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def cron_after(expression: str, tz: ZoneInfo, after: datetime) -> datetime | None:
    """The first run of ``expression`` in ``tz`` strictly after ``after`` (UTC), or None."""
    text, with_seconds = cron_fields(expression)
    wall = after.astimezone(tz).replace(tzinfo=None)
    # Start one hour of wall time early: after a fall-back the wall clock repeats, so runs in
    # the repeated hour are found and then discarded by the instant comparison below. Not capped
    # by a count: a per-second cron in a two-hour repeat (Asia/Magadan, 2014) skips 10,800
    # candidates. The loop ends: candidates only move on, only those before ``after``'s wall time
    # or inside a repeat map to ``after`` or earlier, and croniter raises for an expression that
    # never matches (Feb 30).
    it = croniter(text, wall - timedelta(hours=1), second_at_beginning=with_seconds)
    while True:
        try:
            candidate = it.get_next(datetime)
        except CroniterError:
            return None
        instant = wall_to_utc(candidate, tz)
        if instant > after:
            return instant


@dataclass(frozen=True)
class Timing:
    """The part of a schedule that decides when it runs."""

    kind: str
    timezone: str = "UTC"
    run_at: datetime | None = None  # once: the UTC instant
    every_seconds: int | None = None  # interval
    cron: str | None = None
    start_at: datetime | None = None  # UTC
    end_at: datetime | None = None  # UTC

    def next_after(self, after: datetime, anchor: datetime | None = None) -> datetime | None:
        """The first due instant strictly after ``after``; ``anchor`` fixes an interval's grid."""
        floor = after
        if self.start_at is not None and self.start_at > after:
            floor = self.start_at - timedelta(microseconds=1)
        if self.kind == "once":
            due = self.run_at if self.run_at is not None and self.run_at > floor else None
        elif self.kind == "interval":
            step = timedelta(seconds=self.every_seconds or 0)
            base = anchor or self.start_at or after
            if base > floor:
                due = base
            else:
                periods = int((floor - base) / step) + 1
                due = base + periods * step
        else:
            due = cron_after(self.cron or "", zone(self.timezone), floor)
        if due is not None and self.end_at is not None and due > self.end_at:
            return None
        return due

    def upcoming(self, now: datetime, count: int, anchor: datetime | None = None) -> list[datetime]:
        """The next ``count`` due instants after ``now``."""
        return list(_take(self._iterate(now, anchor), count))

    def _iterate(self, now: datetime, anchor: datetime | None) -> Iterator[datetime]:
        after = now
        while True:
            due = self.next_after(after, anchor)
            if due is None:
                return
            yield due
            if self.kind == "once":
                return
            after = due


def _take(iterator: Iterator[datetime], count: int) -> Iterator[datetime]:
    for index, value in enumerate(iterator):
        if index >= count:
            return
        yield value


def describe(timing: Timing, locale: str = "en_US") -> str:
    """Human text, e.g. "Every 5 minutes" or "At 02:30 (America/New_York)".

    ``locale`` is cron-descriptor's locale code ("en_US", "zh_CN"); the interval and one-time
    texts go through gettext, which outside a request (beat, API scripts) leaves them in English.
    """
    from flask_babel import gettext

    if timing.kind == "once":
        when = timing.run_at.astimezone(zone(timing.timezone)) if timing.run_at else None
        if not when:
            return gettext("Once")
        return gettext("Once at %(when)s (%(zone)s)", when=f"{when:%Y-%m-%d %H:%M:%S}", zone=timing.timezone)
    if timing.kind == "interval":
        seconds = timing.every_seconds or 0
        for unit, size in reversed(UNITS.items()):
            if seconds % size == 0:
                return _every(seconds // size, unit)
        return gettext("Every %(count)s seconds", count=seconds)  # pragma: no cover
    from cron_descriptor import Options, get_description

    options = Options()
    options.use_24hour_time_format = True
    options.locale_code = locale
    try:
        text = _localised_names(get_description(timing.cron or "", options), locale)
    except Exception:  # cron-descriptor raises its own zoo of errors
        text = timing.cron or ""
    return f"{text} ({timing.timezone})"


def _localised_names(text: str, locale: str) -> str:
    """cron-descriptor's day and month names in ``locale``.

    cron-descriptor translates its phrases but takes day and month names from the process's C
    library locale (``calendar``, ``strftime``), which is English in every Taskdeck process and
    cannot be switched per request; the names are swapped for Babel's (CLDR) ones here.
    """
    if locale.startswith("en"):
        return text
    names = _calendar_names(locale)
    # Not \b: Chinese characters are word characters too, as in "第二个Monday".
    pattern = re.compile(r"(?<![A-Za-z])(" + "|".join(map(re.escape, names)) + r")(?![A-Za-z])")
    return pattern.sub(lambda match: names[match.group(1)], text)


@functools.lru_cache(maxsize=8)
def _calendar_names(locale: str) -> dict[str, str]:
    """``calendar``'s day and month names mapped to ``locale``'s wide, standalone ones."""
    import calendar

    from babel.dates import get_day_names, get_month_names

    days = get_day_names("wide", "stand-alone", locale)  # 0 is Monday, as in calendar
    months = get_month_names("wide", "stand-alone", locale)  # 1 is January
    names = {calendar.day_name[index]: days[index] for index in range(7)}
    names.update({calendar.month_name[index]: months[index] for index in range(1, 13)})
    return names


def _every(count: int, unit: str) -> str:
    from flask_babel import gettext

    if count == 1:
        single = {
            "seconds": gettext("Every second"),
            "minutes": gettext("Every minute"),
            "hours": gettext("Every hour"),
            "days": gettext("Every day"),
        }
        return single[unit]
    plural = {
        "seconds": gettext("Every %(count)s seconds", count=count),
        "minutes": gettext("Every %(count)s minutes", count=count),
        "hours": gettext("Every %(count)s hours", count=count),
        "days": gettext("Every %(count)s days", count=count),
    }
    return plural[unit]


def parse_local(value: object, tz: ZoneInfo, field: str) -> datetime | None:
    """A wall time (ISO text or naive datetime) in ``tz`` as a UTC instant; '' means none."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidSchedule(
                _l("not a date and time: '%(value)s' (use YYYY-MM-DDTHH:MM)", value=value), field=field
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)  # bounds first: near datetime's ends a zone cannot be applied
        in_range(moment, field, InvalidSchedule)
        return wall_to_utc(moment.replace(tzinfo=None), tz)
    return in_range(moment, field, InvalidSchedule)
