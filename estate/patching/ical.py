"""iCalendar: the feed of patch windows (with its validators) and the import of change freezes."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time, timedelta

import recurring_ical_events
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone
from icalendar import Calendar, Event, vRecur

from estate.core.errors import ApplicationError
from estate.core.services import guard_write, validated_save
from estate.patching.choices import OccurrenceStatus
from estate.patching.models import ChangeFreeze, Occurrence, PatchWindow, WindowDeletion
from estate.patching.recurrence import check_imported_rules

PRODID = "-//Estate//Patch windows//EN"
EVENT_FIELDS = ("title", "description", "start", "duration", "time_zone", "rrule", "paused", "change_kind",
                "impact_kind", "impact_seconds", "runbook")  # fmt: skip
FEED_PAST = timedelta(days=180)
IMPORT_AHEAD = timedelta(days=2 * 366)
MAX_IMPORTED = 2000


def feed_validators(windows, filters: dict) -> tuple[str, datetime]:
    """ETag and Last-Modified of a feed, from a few aggregates: any change to any event moves both."""
    # Every field an event is made of, not only updated_at: two changes can share a timestamp.
    rows = list(windows.order_by("pk").values_list("pk", "updated_at", *EVENT_FIELDS))
    ids = [row[0] for row in rows]
    occ = list(
        Occurrence.objects.filter(window_id__in=ids, original_start__gte=timezone.now() - FEED_PAST)
        .order_by("pk")
        .values_list("pk", "start", "end", "status", "updated_at")
    )
    members = _memberships(ids)
    gone = WindowDeletion.objects.aggregate(at=Max("deleted_at"), n=Count("pk"))
    stamps = [row[1] for row in rows] + [row[-1] for row in occ] + [row[-1] for row in members] + [gone["at"]]
    last = max([s for s in stamps if s] or [datetime(2000, 1, 1, tzinfo=UTC)])
    digest = hashlib.sha256(repr((sorted(filters.items()), rows, occ, members, gone)).encode()).hexdigest()[:32]
    return f'"{digest}"', last


def _memberships(window_ids: list[int]) -> list[tuple]:
    """Which component each window covers, by name: an event's description lists them.

    The membership rows themselves, not the newest component's updated_at: taking a component out of
    a window (add, remove, clear) changes no component, and may share the window's timestamp.
    """
    through = PatchWindow.components.through
    return list(
        through.objects.filter(patchwindow_id__in=window_ids)
        .order_by("patchwindow_id", "component_id")
        .values_list("patchwindow_id", "component_id", "component__name", "component__updated_at")
    )


def _describe(window: PatchWindow) -> str:
    lines = [
        f"Change: {window.get_change_kind_display()}",
        f"Components: {', '.join(c.name for c in window.components.all())}",
        f"Expected impact: {window.get_impact_kind_display()}"
        + (f" ({window.impact_seconds} s)" if window.impact_seconds else ""),
    ]
    if window.runbook:
        lines += ["", "Runbook:"] + [f"{i + 1}. {step}" for i, step in enumerate(window.runbook)]
    if window.description:
        lines += ["", window.description]
    return "\n".join(lines)


def _event(window: PatchWindow, uid: str, start: datetime, end: datetime) -> Event:
    tz = window.tz
    event = Event()
    event.add("uid", uid)
    event.add("summary", window.title)
    event.add("dtstart", start.astimezone(tz))
    event.add("dtend", end.astimezone(tz))
    event.add("dtstamp", window.updated_at)
    event.add("last-modified", window.updated_at)
    event.add("description", _describe(window))
    event.add("categories", [window.get_change_kind_display()])
    return event


def feed_calendar(windows, *, name: str = "Estate patch windows") -> bytes:
    """RFC 5545 text: one master event per window (RRULE in its own zone), exceptions as overrides."""
    now = timezone.now()
    windows = [w for w in windows if not w.paused]
    rows: dict[int, list[Occurrence]] = {}
    for row in Occurrence.objects.filter(window_id__in=[w.pk for w in windows], original_start__gte=now - FEED_PAST):
        rows.setdefault(row.window_id, []).append(row)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    for window in windows:
        for event in _window_events(window, rows.get(window.pk, []), settings.PATCHING_ICAL_DOMAIN):
            cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()


def _window_events(window: PatchWindow, rows: list[Occurrence], domain: str) -> list[Event]:
    # One UID per window, whatever address the feed was fetched from: clients update, never duplicate.
    uid = f"patch-window-{window.pk}@{domain}"
    if not window.rrule:
        row = rows[0] if rows else None
        event = _event(
            window, uid, row.start if row else window.start, row.end if row else window.start + window.duration
        )
        _status(event, row)
        return [event]
    master = _event(window, uid, window.start, window.start + window.duration)
    master.add("rrule", vRecur.from_ical(window.rrule.removeprefix("RRULE:")))
    events = [master]
    for row in sorted(rows, key=lambda r: r.original_start):
        if row.status == OccurrenceStatus.SKIPPED:
            master.add("exdate", row.original_start.astimezone(window.tz))
        elif row.moved or row.status != OccurrenceStatus.PLANNED:
            override = _event(window, uid, row.start, row.end)
            override.add("recurrence-id", row.original_start.astimezone(window.tz))
            override["last-modified"] = override["dtstamp"] = _utc_prop(max(row.updated_at, window.updated_at))
            _status(override, row)
            events.append(override)
    return events


def _utc_prop(moment: datetime):
    event = Event()
    event.add("dtstamp", moment)
    return event["dtstamp"]


def _status(event: Event, row: Occurrence | None) -> None:
    if row is None:
        event.add("status", "CONFIRMED")
        return
    if row.status in (OccurrenceStatus.CANCELLED, OccurrenceStatus.SKIPPED):
        event.add("status", "CANCELLED")
    else:
        event.add("status", "CONFIRMED")
    if row.status != OccurrenceStatus.PLANNED:
        event["summary"] = f"{event['summary']} [{row.get_status_display()}]"


def _as_utc(value) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time.min, tzinfo=UTC)
    raise ApplicationError("The calendar has an event without a usable start or end.")


def _periods(calendar: Calendar, earliest: datetime, latest: datetime) -> list[tuple]:
    """The periods from earliest to latest. Every rule is checked first, within bounds (recurrence.py): the
    library expands without any, and its after() re-walks each series from its DTSTART page after page."""
    check_imported_rules(_rules(calendar), earliest, latest, most=MAX_IMPORTED)
    periods = [_period(event) for event in recurring_ical_events.of(calendar).between(earliest, latest)]
    return sorted(periods, key=lambda period: (period[3], period[0]))


def _rules(calendar: Calendar) -> list[tuple[str, str, datetime]]:
    """(summary, rule, DTSTART as naive wall-clock time) of every RRULE and EXRULE of the calendar's events."""
    found = []
    for event in calendar.walk("VEVENT"):
        for key in ("RRULE", "EXRULE"):
            values = event.get(key)
            for value in values if isinstance(values, list) else [values] if values is not None else []:
                summary = str(event.get("SUMMARY", event.get("UID", "")))[:80]
                found.append((summary, value.to_ical().decode(), _wall_clock(event["DTSTART"].dt)))
    return found


def _wall_clock(value) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return datetime.combine(value, time.min)


def _period(event) -> tuple[str, str, str, datetime, datetime]:
    start = _as_utc(event["DTSTART"].dt)
    end = _as_utc(event["DTEND"].dt) if "DTEND" in event else start + timedelta(days=1)
    return (
        str(event.get("UID", "")),
        str(event.get("SUMMARY", "Imported freeze")),
        str(event.get("DESCRIPTION", "")),
        start,
        end,
    )


@transaction.atomic
def freezes_import(*, content: bytes, scope: str = "all", environment=None, system=None) -> dict[str, int]:
    """Import (or refresh) change freezes from an .ics a team keeps; recurring events are expanded.

    Each imported occurrence is keyed by its UID and start, so importing the same file again
    updates instead of duplicating.
    """
    # Permission and scope before any parsing: a person the import refuses costs no expansion.
    guard_write(ChangeFreeze(scope=scope, environment=environment, system=system))
    now = timezone.now()
    try:
        calendar = Calendar.from_ical(content)
        periods = _periods(calendar, now - timedelta(days=1), now + IMPORT_AHEAD)
    except (ValueError, KeyError, TypeError, OverflowError) as exc:
        # icalendar and recurring_ical_events report malformed content as ValueError subclasses
        # (undecodable bytes too); an event without DTSTART is a KeyError; absurd dates overflow.
        raise ApplicationError(f"Not an iCalendar file: {exc}", errors={"file": [str(exc)]}) from exc
    if len(periods) > MAX_IMPORTED:
        raise ApplicationError(
            f"The file holds more than {MAX_IMPORTED} periods; at most that many are imported at once."
        )
    counts = {"created": 0, "updated": 0}
    for uid, summary, description, start, end in periods:
        key = f"{uid}/{start.isoformat()}"[:300]
        freeze = ChangeFreeze.objects.filter(source_uid=key).first() or ChangeFreeze(source_uid=key)
        counts["updated" if freeze.pk else "created"] += 1
        freeze.name, freeze.reason = summary[:200], description
        freeze.start, freeze.end = start, end
        freeze.scope, freeze.environment, freeze.system = scope, environment, system
        validated_save(freeze)  # the whole import is one transaction: a refused period refuses the file
    return counts
