"""Recurrence keeps the wall-clock time in the window's zone across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from estate.patching import selectors
from estate.patching.recurrence import next_starts, series_end, starts_between, validate_rrule
from tests.patching.conftest import NOW, make_window


def _starts(start, tz, rule, days=60):
    return starts_between(
        start=start,
        duration=timedelta(hours=1),
        time_zone=tz,
        rule=rule,
        range_start=start,
        range_end=start + timedelta(days=days),
    )


def test_weekly_window_keeps_local_time_across_spring_dst_in_paris():
    # Tuesday 02:00 Paris = 01:00 UTC in winter, 00:00 UTC after 2027-03-28.
    first = datetime(2027, 3, 16, 1, 0, tzinfo=UTC)
    starts = _starts(first, "Europe/Paris", "FREQ=WEEKLY;BYDAY=TU", days=20)
    assert starts == [
        datetime(2027, 3, 16, 1, 0, tzinfo=UTC),
        datetime(2027, 3, 23, 1, 0, tzinfo=UTC),
        datetime(2027, 3, 30, 0, 0, tzinfo=UTC),
    ]


def test_weekly_window_keeps_local_time_across_autumn_dst_in_new_york():
    # Sunday 2027-11-07 the US falls back: 03:00 New York is 07:00 UTC before, 08:00 UTC after.
    first = datetime(2027, 10, 31, 7, 0, tzinfo=UTC)
    starts = _starts(first, "America/New_York", "FREQ=WEEKLY", days=8)
    assert starts == [datetime(2027, 10, 31, 7, 0, tzinfo=UTC), datetime(2027, 11, 7, 8, 0, tzinfo=UTC)]


def test_monthly_second_tuesday():
    first = datetime(2027, 1, 12, 2, 0, tzinfo=UTC)
    starts = _starts(first, "UTC", "FREQ=MONTHLY;BYDAY=2TU", days=70)
    assert [s.day for s in starts] == [12, 9, 9]


def test_until_and_count_give_a_series_end():
    first = datetime(2027, 1, 5, 2, 0, tzinfo=UTC)
    end = series_end(start=first, duration=timedelta(hours=1), time_zone="UTC", rule="FREQ=WEEKLY;COUNT=3")
    assert end == datetime(2027, 1, 19, 3, 0, tzinfo=UTC)
    assert series_end(start=first, duration=timedelta(hours=1), time_zone="UTC", rule="FREQ=WEEKLY") is None


def test_expansion_is_bounded_to_the_range():
    first = datetime(2020, 1, 1, 2, 0, tzinfo=UTC)
    starts = starts_between(
        start=first,
        duration=timedelta(hours=1),
        time_zone="UTC",
        rule="FREQ=DAILY",
        range_start=NOW,
        range_end=NOW + timedelta(days=3),
    )
    assert len(starts) == 3


@pytest.mark.parametrize(
    "rule, message",
    [
        ("FREQ=SOMETIMES", "Not a valid RFC 5545 RRULE"),
        ("FREQ=MINUTELY", "at most daily"),
        ("FREQ=WEEKLY;UNTIL=20270101T000000", "UNTIL must be in UTC"),
        ("DTSTART:20270101T000000Z\nRRULE:FREQ=DAILY", "RRULE alone"),
        ("FREQ=DAILY;COUNT=5000", "At most 1000"),
    ],
)
def test_invalid_rules_are_refused_with_a_reason(rule, message):
    with pytest.raises(ValidationError, match=message):
        validate_rrule(rule)


def test_start_must_be_an_occurrence_of_the_rule(now, db1):
    monday = NOW + timedelta(days=7)
    with pytest.raises(ValidationError, match="must itself be an occurrence"):
        make_window([db1], monday, rrule="FREQ=WEEKLY;BYDAY=TU")


def test_next_starts_preview_in_utc():
    first = datetime(2027, 3, 16, 1, 0, tzinfo=UTC)
    starts = next_starts(
        start=first, duration=timedelta(hours=1), time_zone="Europe/Paris", rule="FREQ=WEEKLY", after=first, count=3
    )
    assert starts[2] == datetime(2027, 3, 30, 0, 0, tzinfo=UTC)


def test_window_occurrences_show_stored_exceptions(now, db1):
    window = make_window([db1], NOW + timedelta(days=1), rrule="FREQ=DAILY")
    from estate.patching import services

    second = services.occurrence_materialise(window, NOW + timedelta(days=2))
    services.occurrence_skip(occurrence=second)
    occurrences = selectors.occurrences_between([window], NOW, NOW + timedelta(days=4))
    assert [o.status for o in occurrences] == ["planned", "skipped", "planned"]
    assert len(selectors.occurrences_between([window], NOW, NOW + timedelta(days=4), include_free=False)) == 2


def test_a_wall_clock_time_that_does_not_exist_on_the_dst_day_moves_forward():
    # 02:30 does not exist in Paris on 2027-03-28: that occurrence runs at 03:30 CEST (01:30 UTC).
    first = datetime(2027, 3, 21, 1, 30, tzinfo=UTC)
    starts = _starts(first, "Europe/Paris", "FREQ=WEEKLY;BYDAY=SU", days=14)
    assert starts == [first, datetime(2027, 3, 28, 1, 30, tzinfo=UTC), datetime(2027, 4, 4, 0, 30, tzinfo=UTC)]
