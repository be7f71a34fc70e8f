"""Wall-clock recurrence: RRULEs expand in the window's own zone, then become UTC instants.

Expansion is always bounded to the range asked for, never to all of history.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule, rrulestr
from django.core.exceptions import ValidationError

ALLOWED_FREQUENCIES = {DAILY, WEEKLY, MONTHLY, YEARLY}
MAX_COUNT = 1000


def parse_rrule(value: str, dtstart: datetime) -> rrule:
    body = value.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    return rrulestr(f"RRULE:{body}", dtstart=dtstart)


def validate_rrule(value: str) -> None:
    if not value:
        return
    if "DTSTART" in value.upper() or "\n" in value:
        raise ValidationError("Give the RRULE alone (FREQ=...;...); the window's start is its DTSTART.")
    try:
        rule = parse_rrule(value, datetime(2000, 1, 1, tzinfo=UTC))
    except (ValueError, TypeError, KeyError) as exc:
        message = str(exc)
        if "UNTIL" in message:
            message = "UNTIL must be in UTC, ending in Z (e.g. UNTIL=20271231T000000Z)"
        raise ValidationError(f"Not a valid RFC 5545 RRULE: {message}.") from exc
    if rule._freq not in ALLOWED_FREQUENCIES:
        raise ValidationError("A patch window recurs at most daily: use FREQ=DAILY, WEEKLY, MONTHLY or YEARLY.")
    if rule._count and rule._count > MAX_COUNT:
        raise ValidationError(f"At most {MAX_COUNT} occurrences (COUNT).")


def starts_between(
    *, start: datetime, duration: timedelta, time_zone: str, rule: str, range_start: datetime, range_end: datetime
) -> list[datetime]:
    """UTC starts of the occurrences that overlap [range_start, range_end)."""
    if not rule:
        return [start] if start < range_end and start + duration > range_start else []
    tz = ZoneInfo(time_zone)
    # An aware dtstart in the window's zone makes dateutil step in wall-clock time, with each
    # result's offset taken on its own date: 02:00 stays 02:00 across a DST change.
    expanded = parse_rrule(rule, start.astimezone(tz))
    low = (range_start - duration).astimezone(tz)
    found = expanded.between(low, range_end.astimezone(tz), inc=True)
    starts = [s.astimezone(UTC) for s in found]
    return [s for s in starts if s < range_end and s + duration > range_start]


def series_end(*, start: datetime, duration: timedelta, time_zone: str, rule: str) -> datetime | None:
    """End of the last occurrence, or None for a series without an end."""
    if not rule:
        return start + duration
    expanded = parse_rrule(rule, start.astimezone(ZoneInfo(time_zone)))
    if not expanded._count and not expanded._until:
        return None
    last = None
    for last in expanded:  # noqa: B007 - bounded by COUNT or UNTIL, validated above
        pass
    return (last.astimezone(UTC) + duration) if last else start + duration


def next_starts(*, start, duration, time_zone, rule, after: datetime, count: int = 5) -> list[datetime]:
    """The next `count` starts after a moment (for the preview before saving)."""
    if not rule:
        return [start] if start + duration > after else []
    expanded = parse_rrule(rule, start.astimezone(ZoneInfo(time_zone)))
    found, moment = [], (after - duration).astimezone(ZoneInfo(time_zone))
    while len(found) < count:
        nxt = expanded.after(moment, inc=False)
        if nxt is None:
            break
        found.append(nxt.astimezone(UTC))
        moment = nxt
    return found


def is_first_occurrence(*, start: datetime, time_zone: str, rule: str) -> bool:
    """RFC 5545 counts DTSTART as an occurrence; dateutil does not unless it matches the rule."""
    if not rule:
        return True
    local = start.astimezone(ZoneInfo(time_zone))
    return parse_rrule(rule, local).after(local - timedelta(seconds=1), inc=True) == local


def first_start_after(*, after: datetime, wall_clock: tuple[int, int], time_zone: str, rule: str) -> datetime:
    """The first moment after `after` at that local time that the rule produces (to build a start)."""
    tz = ZoneInfo(time_zone)
    local = after.astimezone(tz).replace(hour=wall_clock[0], minute=wall_clock[1], second=0, microsecond=0)
    return parse_rrule(rule, local).after(after.astimezone(tz)).astimezone(UTC)
