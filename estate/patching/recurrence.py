"""Wall-clock recurrence: RRULEs expand in the window's own zone, then become UTC instants.

Every expansion in Estate is bounded here, and only here, whoever asks (a viewer's conflicts-check,
a window's save, the calendar, an .ics import):
- in frequency: at most one occurrence a day (no HOURLY, MINUTELY, SECONDLY, nor a list of
  BYHOUR/BYMINUTE/BYSECOND values that makes one);
- in time: nothing is planned or asked before EARLIEST nor past the horizon (HORIZON_YEARS ahead of
  now); occurrences exist only up to the horizon, so an UNTIL in year 9999 costs what an open series
  costs; a rule must yield an occurrence within SEARCH_YEARS of its start, else it is refused;
- in count: one expansion looks at no more than MAX_EXAMINED occurrences.

dateutil looks for a rule's next occurrence until year 9999 (FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30
takes seconds to find there is none; UNTIL does not stop it, it only applies to occurrences found).
So each expansion runs on a copy of the rule moved forward by whole 400-year Gregorian cycles,
which repeat the calendar exactly (146097 days, whole weeks: same weekdays, same leap days), until
the end of the range asked for lies in the last cycle before 9999; dateutil's own end of time then
stops any search less than 400 years past the range, and results are moved back.
"""

from __future__ import annotations

from datetime import MAXYEAR, UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule, rrulestr
from django.core.exceptions import ValidationError
from django.utils import timezone

ALLOWED_FREQUENCIES = {DAILY, WEEKLY, MONTHLY, YEARLY}
FREQUENCY_NAMES = {0: "YEARLY", 1: "MONTHLY", 2: "WEEKLY", 3: "DAILY", 4: "HOURLY", 5: "MINUTELY", 6: "SECONDLY"}
MAX_COUNT = 1000
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
HORIZON_YEARS = 10
SEARCH_YEARS = 10
MAX_EXAMINED = 20_000
CYCLE_YEARS = 400
# Expansion reaches a little past the horizon: a range or a conflict check may start at it.
_REACH = timedelta(days=2 * 366)


def horizon_end() -> datetime:
    """The last moment anything may be planned or asked for: HORIZON_YEARS from now."""
    return timezone.now() + timedelta(days=365 * HORIZON_YEARS + HORIZON_YEARS // 4)


def moment_bounds() -> str:
    return (
        f"Give a time between {EARLIEST:%Y-%m-%d} and {horizon_end():%Y-%m-%d} (at most {HORIZON_YEARS} years ahead)."
    )


def check_moment(value: datetime | None, field: str) -> None:
    """Refuse a moment outside [EARLIEST, horizon] with a 400 naming the field and the bounds."""
    if value is not None and not EARLIEST <= value <= horizon_end():
        raise ValidationError({field: [moment_bounds()]})


def wall_clock(value: datetime, time_zone: str, field: str = "start") -> datetime:
    """A naive date-time read as wall-clock time in `time_zone`; an aware one is kept as given.

    A wall time the zone skips (clocks spring forward) or shows twice (clocks fall back) names no single
    moment: refused, naming the field, rather than silently moved by an hour.
    """
    if value.tzinfo is not None:
        return value
    zone = ZoneInfo(time_zone)
    earlier, later = value.replace(tzinfo=zone, fold=0), value.replace(tzinfo=zone, fold=1)
    try:
        round_trip = earlier.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    except OverflowError:  # year 1 west of UTC, year 9999 east of it
        raise ValidationError({field: [moment_bounds()]}) from None
    if round_trip != value:
        raise ValidationError(
            {field: [f"{value:%Y-%m-%d %H:%M} does not exist in {time_zone}: the clocks skip that hour "
                     "(daylight saving time starts). Pick a time outside the gap, or give an offset."]}
        )  # fmt: skip
    if earlier.utcoffset() != later.utcoffset():
        raise ValidationError(
            {field: [f"{value:%Y-%m-%d %H:%M} happens twice in {time_zone} (daylight saving time ends): "
                     f"give the offset, {earlier.isoformat()} or {later.isoformat()}."]}
        )  # fmt: skip
    return earlier


def parse_rrule(value: str, dtstart: datetime) -> rrule:
    body = value.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    return rrulestr(f"RRULE:{body}", dtstart=dtstart)


def _refusal(message: str) -> ValidationError:
    return ValidationError({"rrule": [message]})


def check_rule(rule: rrule) -> None:
    """The bounds every rule must meet, a window's or an imported freeze's (raises on the rrule field)."""
    if rule._freq not in ALLOWED_FREQUENCIES:
        raise _refusal(
            f"FREQ={FREQUENCY_NAMES.get(rule._freq, rule._freq)} is finer than Estate allows: "
            "a series recurs at most daily (FREQ=DAILY, WEEKLY, MONTHLY or YEARLY)."
        )
    for name, values in (("BYHOUR", rule._byhour), ("BYMINUTE", rule._byminute), ("BYSECOND", rule._bysecond)):
        if values and len(values) > 1:
            raise _refusal(f"At most one occurrence a day: give {name} one value (or none, to use the start's).")
    if rule._byeaster:
        raise _refusal("BYEASTER is not part of RFC 5545.")
    if rule._count and rule._count > MAX_COUNT:
        raise _refusal(f"At most {MAX_COUNT} occurrences (COUNT).")


# Where a rule alone is checked from: moved by whole cycles, its SEARCH_YEARS end a year before 9999,
# where dateutil's own search ends, so even a rule that never happens is refused in milliseconds.
CHECK_START = datetime(1988, 12, 1, tzinfo=UTC)  # a leap year, like 2000: leap-day rules fit


def validate_rrule(value: str) -> None:
    """The field's validator: syntax, bounds, and an occurrence within SEARCH_YEARS of a start."""
    if value and (message := _refusal_of(value)):
        raise ValidationError(message)


@lru_cache(maxsize=512)
def _refusal_of(value: str) -> str:
    """Why a rule alone is refused, or "" (cached: one request checks the same rule several times)."""
    if "DTSTART" in value.upper() or "\n" in value:
        return "Give the RRULE alone (FREQ=...;...); the window's start is its DTSTART."
    try:
        rule = parse_rrule(value, CHECK_START)
    except (ValueError, TypeError, KeyError) as exc:
        message = str(exc)
        if "UNTIL" in message:
            message = "UNTIL must be in UTC, ending in Z (e.g. UNTIL=20271231T000000Z)"
        return f"Not a valid RFC 5545 RRULE: {message}."
    try:
        check_rule(rule)
        check_yields(rule, start=CHECK_START)
    except ValidationError as exc:
        return exc.message_dict["rrule"][0]
    return ""


def check_yields(rule: rrule, *, start: datetime) -> None:
    """Refuse a rule that yields nothing within SEARCH_YEARS of its start (the search is bounded)."""
    last = datetime(MAXYEAR, 12, 31, tzinfo=start.tzinfo)
    until = start + timedelta(days=366 * SEARCH_YEARS) if start.year < MAXYEAR - SEARCH_YEARS else last
    if not _expand(rule, start, start, until, limit=1)[0]:
        raise _refusal(
            f"This rule yields no occurrence within {SEARCH_YEARS} years of its start "
            "(e.g. BYMONTH=2;BYMONTHDAY=30 never happens)."
        )


IMPORT_STEPS = 500_000  # about half a second of expansion
IMPORT_REFUSAL = (
    f"Expanding this file's rules would take more than the import's bound ({IMPORT_STEPS} steps, about half a "
    "second): give the recurring events later starts (DTSTART), or import fewer of them at once."
)


def check_imported_rules(rules: list[tuple[str, str, datetime]], low: datetime, high: datetime, *, most: int) -> None:
    """Every RRULE and EXRULE of an .ics file, checked before the import expands them (the calendar library's
    expansion has no bound of its own): each meets the bounds of a window's rule, and together they give at
    most `most` occurrences in [low, high], found within one budget of IMPORT_STEPS steps.

    `rules` are (event summary, rule text, DTSTART as naive wall-clock time); refusals name the file field.
    """
    budget, total = Budget(IMPORT_STEPS, IMPORT_REFUSAL), 0
    for summary, text, start in rules:
        try:
            rule = rrulestr(f"RRULE:{text.removeprefix('RRULE:')}", dtstart=start, ignoretz=True)
            check_rule(rule)
            budget.spend_periods(rule, start, high)
            check_yields(rule, start=start)
            found, _ = _expand(rule, start, low, high, limit=most + 1 - total, budget=budget)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValidationError({"file": [f"Event “{summary}”: not a valid RRULE ({exc})."]}) from None
        except ValidationError as exc:
            raise ValidationError({"file": [f"Event “{summary}”: {m}" for m in exc.message_dict["rrule"]]}) from None
        total += len(found)
        if total > most:
            raise ValidationError({"file": [f"The file holds more than {most} periods; at most that many are "
                                            "imported at once."]})  # fmt: skip


# --- bounded expansion ---------------------------------------------------------------------


def _naive(moment: datetime, tz) -> datetime:
    return moment.astimezone(tz or UTC).replace(tzinfo=None) if moment.tzinfo else moment


class Budget:
    """The work one request may do across every rule it expands, in steps of about a microsecond:
    each period dateutil walks through (counted ahead, from the rule's frequency) and each occurrence
    it hands back."""

    MATCH_COST = 4
    PERIOD_COST = {DAILY: 5, WEEKLY: 10, MONTHLY: 20, YEARLY: 120}

    def __init__(self, steps: int = MAX_EXAMINED * MATCH_COST, refusal: str = ""):
        self.steps = steps
        self.refusal = refusal or f"The rule gives more than {MAX_EXAMINED} occurrences before the range asked for."

    def spend(self, steps: int = MATCH_COST) -> None:
        self.steps -= steps
        if self.steps < 0:
            raise _refusal(self.refusal)

    def spend_periods(self, rule: rrule, start: datetime, high: datetime) -> None:
        days = max((_naive(high, start.tzinfo) - _naive(start, start.tzinfo)).days, 0)
        periods = days // (self.PERIOD_DAYS[rule._freq] * rule._interval) + 1
        self.spend(periods * self.PERIOD_COST[rule._freq])

    PERIOD_DAYS = {DAILY: 1, WEEKLY: 7, MONTHLY: 30, YEARLY: 365}


def _expand(
    rule: rrule, start: datetime, low: datetime, high: datetime, *, limit: int, budget: Budget | None = None
) -> tuple[list[datetime], bool]:
    """The rule's starts in [low, high] (wall-clock in start's zone), at most `limit`; and whether it goes on.

    `start` is the rule's DTSTART (aware, in the window's zone, or naive for a floating event).
    """
    tz, budget = start.tzinfo, budget or Budget()
    if _naive(start, tz) > _naive(high, tz):
        return [], True  # starts after the range: nothing to walk through
    years = (MAXYEAR - _naive(high, tz).year) // CYCLE_YEARS * CYCLE_YEARS

    def shift(moment: datetime, by: int) -> datetime:
        return moment.replace(year=moment.year + by)

    moved = rule.replace(dtstart=shift(_naive(start, tz), years), until=_moved_until(rule, tz, years))
    low, high = shift(_naive(low, tz), years), shift(_naive(high, tz), years)
    found = []
    try:
        for moment in moved:
            if moment > high or len(found) >= limit:
                return found, True
            budget.spend()
            if moment >= low:
                found.append(shift(moment, -years).replace(tzinfo=tz))
    except (ValueError, OverflowError):
        pass  # dateutil stepped past year 9999: nothing more within reach
    return found, False


def _moved_until(rule: rrule, tz, years: int) -> datetime | None:
    if rule._until is None:
        return None
    until = _naive(rule._until, tz)
    if until.year + years > MAXYEAR:
        return None  # beyond the end of time once moved: as good as no UNTIL within the range asked for
    return until.replace(year=until.year + years)


def _series(rule: str, start: datetime, time_zone: str) -> tuple[rrule, datetime]:
    local = start.astimezone(ZoneInfo(time_zone))
    return parse_rrule(rule, local), local


def starts_between(
    *, start: datetime, duration: timedelta, time_zone: str, rule: str, range_start: datetime, range_end: datetime
) -> list[datetime]:
    """UTC starts of the occurrences that overlap [range_start, range_end), up to the horizon."""
    if not rule:
        return [start] if start < range_end and start + duration > range_start else []
    range_end = min(range_end, horizon_end() + _REACH)
    low = max(range_start, start + duration) - duration
    if low > range_end:
        return []
    # An aware dtstart in the window's zone keeps the wall-clock time: 02:00 stays 02:00 across a
    # DST change, with each result's offset taken on its own date.
    expanded, local = _series(rule, start, time_zone)
    found, _ = _expand(expanded, local, low, range_end, limit=MAX_EXAMINED)
    starts = [s.astimezone(UTC) for s in found]
    return [s for s in starts if s < range_end and s + duration > range_start]


def series_end(*, start: datetime, duration: timedelta, time_zone: str, rule: str) -> datetime | None:
    """End of the last occurrence, or None for a series without an end, or one that ends past the horizon."""
    if not rule:
        return start + duration
    expanded, local = _series(rule, start, time_zone)
    if not expanded._count and not expanded._until:
        return None
    found, goes_on = _expand(expanded, local, local, max(horizon_end(), start), limit=MAX_EXAMINED)
    if goes_on:
        return None  # occurrences are materialised up to the horizon only: UNTIL=99991231 is open-ended
    return (found[-1].astimezone(UTC) + duration) if found else start + duration


def next_starts(*, start, duration, time_zone, rule, after: datetime, count: int = 5) -> list[datetime]:
    """The next `count` starts after a moment (for the preview before saving)."""
    if not rule:
        return [start] if start + duration > after else []
    expanded, local = _series(rule, start, time_zone)
    moment = after - duration
    found, _ = _expand(expanded, local, max(moment, start), max(horizon_end(), start), limit=count + 1)
    return [s.astimezone(UTC) for s in found if s > moment][:count]


def is_first_occurrence(*, start: datetime, time_zone: str, rule: str) -> bool:
    """RFC 5545 counts DTSTART as an occurrence; dateutil does not unless it matches the rule."""
    if not rule:
        return True
    expanded, local = _series(rule, start, time_zone)
    found, _ = _expand(expanded, local, local, local, limit=1)
    return found == [local]


def first_start_after(*, after: datetime, wall_clock: tuple[int, int], time_zone: str, rule: str) -> datetime:
    """The first moment after `after` at that local time that the rule produces (to build a start)."""
    tz = ZoneInfo(time_zone)
    local = after.astimezone(tz).replace(hour=wall_clock[0], minute=wall_clock[1], second=0, microsecond=0)
    found, _ = _expand(parse_rrule(rule, local), local, after + timedelta(seconds=1), horizon_end(), limit=1)
    return found[0].astimezone(UTC)
