"""Bounds of the values a run (or a schedule) is given: seconds, instants, time zones, priorities;
and of the whole numbers requests page or tune with (cursors, limits, counts, policy values).

Each function takes a value as it arrives (a number, or text from a form) and returns it checked
or raises a refusal naming ``field``. The run model (``run_options``) and schedule timing use them,
so the same value is refused in the same words wherever it is typed.
"""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

from flask_babel import lazy_gettext as _l

from .errors import DashboardError, Unprocessable

# The furthest ahead a countdown, a relative expiry or a schedule's interval may reach.
MAX_DELAY = timedelta(days=3653)  # ten years, leap days included
MAX_DELAY_SECONDS = int(MAX_DELAY.total_seconds())
# Instants a day inside what ``datetime`` holds, so that one can be shown in (or converted to)
# any time zone, and have a delay added by Celery, without OverflowError.
EARLIEST = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)
LATEST = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)
PRIORITY_RANGE = range(0, 10)  # what kombu's Redis transport serves (steps 0, 3, 6, 9)


class InvalidRunOption(Unprocessable):
    """A run option (countdown, ETA, queue, priority, expiry, zone) that cannot be honoured."""


def blank(value: object) -> bool:
    """None or only white space: "not given" (forms send every field, empty or not)."""
    return value is None or (isinstance(value, str) and not value.strip())


@functools.lru_cache(maxsize=1)
def zone_names() -> frozenset[str]:
    """Every zone of the tz database (read once: it does not change while the process runs)."""
    return frozenset(available_timezones()) | {"UTC"}


@functools.lru_cache(maxsize=1)
def zone_choices() -> tuple[str, ...]:
    """The zones a picker offers: UTC first, then every ``Area/Place`` name, sorted (read once)."""
    return ("UTC", *sorted(name for name in zone_names() if name != "UTC" and "/" in name))


def shown(value: object) -> str:
    """``value`` as a refusal may quote it: as typed when printable, else escaped (no NUL, no lone
    surrogate ever reaches a page or a JSON body through a message)."""
    text = str(value)
    return text if text.isprintable() else ascii(text)


def time_zone(
    value: object, kind: type[DashboardError] = InvalidRunOption, field: str = "timezone"
) -> ZoneInfo:
    """The IANA zone called ``value``; refused (as ``kind``) for anything else ("Europe", "../x")."""
    name = value.strip() if isinstance(value, str) else value
    if not isinstance(name, str) or name not in zone_names():
        text = shown(value)
        message = _l("unknown time zone '%(name)s' (use an IANA name such as Europe/Paris)", name=text)
        raise kind(message, field=field)
    return ZoneInfo(name)


def seconds(value: object, field: str) -> float:
    """A finite number of seconds from 0 to MAX_DELAY, given as a number or as numeric text."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            text = shown(value)
            raise InvalidRunOption(
                _l("%(field)s must be a number, not '%(value)s'", field=field, value=text), field=field
            ) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRunOption(_l("%(field)s must be a number", field=field), field=field)
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidRunOption(_l("%(field)s must be a finite number", field=field), field=field)
    if value < 0:
        raise InvalidRunOption(_l("%(field)s must not be negative", field=field), field=field)
    if value > MAX_DELAY_SECONDS:  # compared before float(): a huge int does not fit one
        raise InvalidRunOption(
            _l(
                "%(field)s must be at most %(limit)s seconds (10 years)", field=field, limit=MAX_DELAY_SECONDS
            ),
            field=field,
        )
    return float(value)


def whole_seconds(value: object, field: str, kind: type[DashboardError] = InvalidRunOption) -> int:
    """A whole number of seconds from 1 to MAX_DELAY (an expiry or an interval stored as an integer)."""
    try:
        number = seconds(value, field)
    except DashboardError as exc:
        raise kind(exc.text, field=field) from None
    if not number.is_integer() or number < 1:
        raise kind(_l("%(field)s must be a whole number of seconds, at least 1", field=field), field=field)
    return int(number)


def in_range(moment: datetime, field: str, kind: type[DashboardError] = InvalidRunOption) -> datetime:
    """``moment`` (aware) as UTC, refused when outside EARLIEST..LATEST."""
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # within hours of datetime's ends: not representable in UTC
        moment = None
    if moment is None or not EARLIEST <= moment <= LATEST:
        raise kind(
            _l(
                "%(field)s must be between %(earliest)s and %(latest)s UTC",
                field=field,
                earliest=EARLIEST.date().isoformat(),
                latest=LATEST.date().isoformat(),
            ),
            field=field,
        )
    return moment


def instant(value: object, field: str, zone: ZoneInfo) -> datetime:
    """An ISO 8601 date-time (without an offset: wall time in ``zone``) as an aware UTC datetime."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidRunOption(
                _l("%(field)s: '%(value)s' is not an ISO 8601 date-time", field=field, value=shown(value)),
                field=field,
            ) from None
    else:
        raise InvalidRunOption(_l("%(field)s must be an ISO 8601 date-time string", field=field), field=field)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return in_range(moment, field)


def priority(value: object) -> int:
    """A whole number from 0 to 9, given as a number or as text ("3"); 3.0 is 3, 3.5 is refused."""
    number = value
    if isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            number = None
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        number = int(value)
    if isinstance(number, bool) or not isinstance(number, int):
        raise InvalidRunOption(_l("priority must be a whole number from 0 to 9"), field="priority")
    if number not in PRIORITY_RANGE:
        raise InvalidRunOption(
            _l("priority must be from 0 to 9, not %(value)s", value=repr(value)), field="priority"
        )
    return number


# The largest key SQL keeps in a BIGINT (and SQLite in an INTEGER): beyond it a cursor is no row.
MAX_ROW_ID = 2**63 - 1


def _out_of_range(field: str, minimum: object, maximum: object, kind: type[DashboardError]) -> DashboardError:
    return kind(
        _l(
            "%(field)s must be a whole number from %(minimum)s to %(maximum)s",
            field=field,
            minimum=minimum,
            maximum=maximum,
        ),
        field=field,
    )


def whole_number(
    value: object, field: str, minimum: int, maximum: int, kind: type[DashboardError] = Unprocessable
) -> int:
    """A whole number from ``minimum`` to ``maximum``, given as a number or as digits ("42", 42.0);
    anything else (1.5, true, Infinity, "1e3", a thousand digits) is refused naming ``field``."""
    number = None
    if isinstance(value, str):
        text = value.strip()
        # Checked before int(): Python refuses to convert more than 4300 digits at all.
        if text.lstrip("+-").isdigit() and len(text) <= 40:
            number = int(text)
    elif isinstance(value, float):
        number = int(value) if math.isfinite(value) and value.is_integer() else None
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    if number is None or not minimum <= number <= maximum:
        raise _out_of_range(field, minimum, maximum, kind)
    return number


def number_between(
    value: object, field: str, minimum: float, maximum: float, kind: type[DashboardError] = Unprocessable
) -> float:
    """A finite number from ``minimum`` to ``maximum``, given as a number or as numeric text."""
    number = None
    if isinstance(value, str):
        try:
            number = float(value.strip()) if len(value) <= 40 else None
        except ValueError:
            number = None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value) if not isinstance(value, int) or abs(value) <= 2**53 else math.inf
    if number is None or not math.isfinite(number) or not minimum <= number <= maximum:
        raise kind(
            _l(
                "%(field)s must be a number from %(minimum)s to %(maximum)s",
                field=field,
                minimum=minimum,
                maximum=maximum,
            ),
            field=field,
        )
    return number
