"""Reads: occurrences of many windows over a range, in a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from estate.inventory.choices import Mode
from estate.inventory.models import Component
from estate.patching.choices import FREE_STATUSES, FreezeScope, OccurrenceStatus
from estate.patching.models import MAX_DURATION, ChangeFreeze, Occurrence, PatchWindow, occurrence_key
from estate.patching.recurrence import starts_between

# A moved occurrence may land this far from its original start and still be found.
MOVE_REACH = timedelta(days=31)


@dataclass
class OccurrenceView:
    """An occurrence as shown: the stored row when there is one, else the series' own slot."""

    window: PatchWindow
    original_start: datetime
    start: datetime
    end: datetime
    status: str
    row: Occurrence | None = None

    @property
    def key(self) -> str:
        return occurrence_key(self.window.pk, self.original_start)

    @property
    def moved(self) -> bool:
        return self.start != self.original_start

    @property
    def pk(self) -> int | None:
        return self.row.pk if self.row else None


def window_list(filters: dict[str, Any] | None = None) -> QuerySet:
    """Windows, with their components, narrowed by environment/system/team/component/change kind."""
    qs = PatchWindow.objects.prefetch_related(
        Prefetch(
            "components",
            queryset=Component.objects.select_related("environment").only(
                "id", "name", "slug", "cluster_id", "environment_id", "system_id", "team_id", "environment__slug"
            ),
        )
    )
    filters = filters or {}
    component_q = Q()
    for name in ("environment", "system", "team"):
        if filters.get(name):
            component_q &= Q(**{f"components__{name}__slug": filters[name]})
    if filters.get("component"):
        value = str(filters["component"])
        component_q &= Q(components__pk=int(value)) if value.isdigit() else Q(components__slug=value)
    if component_q:
        qs = qs.filter(pk__in=PatchWindow.objects.filter(component_q).values("pk"))
    if filters.get("change_kind"):
        qs = qs.filter(change_kind=filters["change_kind"])
    return qs


def active_in(qs: QuerySet, range_start: datetime, range_end: datetime) -> QuerySet:
    """Windows that may have an occurrence in the range: bounded by start and series end."""
    return qs.filter(start__lt=range_end + MOVE_REACH).filter(
        Q(series_end__isnull=True) | Q(series_end__gt=range_start - MOVE_REACH)
    )


def occurrences_between(
    windows, range_start: datetime, range_end: datetime, *, include_free: bool = True
) -> list[OccurrenceView]:
    """Every occurrence of the windows overlapping the range: one query for the stored rows."""
    windows = list(windows)
    by_id = {w.pk: w for w in windows if w.pk}
    rows = _rows_near(by_id, range_start, range_end)
    found: list[OccurrenceView] = []
    for window in windows:
        if window.paused:
            continue
        for start in _starts(window, range_start, range_end):
            row = rows.pop((window.pk, start), None)
            if row is None:
                found.append(OccurrenceView(window, start, start, start + window.duration, OccurrenceStatus.PLANNED))
            elif row.start < range_end and row.end > range_start:
                found.append(_view(window, row))
    # Rows left over were moved into the range from elsewhere, or belong to a paused window.
    for (window_id, _), row in rows.items():
        if row.start < range_end and row.end > range_start:
            if by_id[window_id].paused and row.status == OccurrenceStatus.PLANNED:
                continue
            found.append(_view(by_id[window_id], row))
    if not include_free:
        found = [o for o in found if o.status not in FREE_STATUSES]
    return sorted(found, key=lambda o: (o.start, o.window.pk))


def _starts(window: PatchWindow, range_start: datetime, range_end: datetime) -> list[datetime]:
    # Look a little wider, so an occurrence moved out of the range is not shown where it was.
    return starts_between(
        start=window.start,
        duration=window.duration,
        time_zone=window.time_zone,
        rule=window.rrule,
        range_start=range_start,
        range_end=range_end,
    )


def _rows_near(by_id: dict, range_start: datetime, range_end: datetime) -> dict:
    if not by_id:
        return {}
    rows = Occurrence.objects.filter(window_id__in=list(by_id)).filter(
        Q(start__lt=range_end, end__gt=range_start)
        | Q(original_start__gt=range_start - MAX_DURATION, original_start__lt=range_end)
    )
    return {(r.window_id, r.original_start): r for r in rows.select_related("ran_by")}


def _view(window: PatchWindow, row: Occurrence) -> OccurrenceView:
    row.window = window
    return OccurrenceView(window, row.original_start, row.start, row.end, row.status, row)


def occurrence_find(window: PatchWindow, original_start: datetime) -> OccurrenceView | None:
    """The occurrence of this window that originally started at that moment, if the series has one."""
    row = Occurrence.objects.filter(window=window, original_start=original_start).first()
    if row:
        return _view(window, row)
    starts = _starts(window, original_start, original_start + timedelta(seconds=1))
    if original_start not in starts:
        return None
    return OccurrenceView(
        window, original_start, original_start, original_start + window.duration, OccurrenceStatus.PLANNED
    )


def occurrence_row(window: PatchWindow, original_start: datetime) -> Occurrence | None:
    """The stored row of that occurrence, else an unsaved one as the series plans it: reading writes nothing."""
    view = occurrence_find(window, original_start)
    if view is None:
        return None
    return view.row or Occurrence(window=window, original_start=original_start, start=view.start, end=view.end)


def blast_radius(component_ids) -> QuerySet:
    """The immutable components that depend on any of these bastions."""
    return (
        Component.objects.filter(mode=Mode.IMMUTABLE, depends_on__in=list(component_ids))
        .select_related("environment")
        .distinct()
        .order_by("name")
    )


def dependents_of(component_ids) -> QuerySet:
    """Every component that depends on these (for muting alerts during the window)."""
    return Component.objects.filter(depends_on__in=list(component_ids)).distinct()


# --- the change calendar: one answer to "may this component change now?" ----------------------

OPEN, CLOSED = "OPEN", "CLOSED"
# Freezes that follow each other without a gap are followed this far to find when changes reopen.
MAX_CHAINED_FREEZES = 50


@dataclass(frozen=True)
class CalendarState:
    """Whether a component may change at a moment (AWS Change Calendar's GetCalendarState).

    `freeze` is the freeze that closes it (the one ending last, when several do); `next_change` is
    when the state flips: when the last of the freezes that follow each other ends, or when the next
    freeze starts; None when no freeze lies ahead.
    """

    state: str
    reason: str
    freeze: ChangeFreeze | None = None
    next_change: datetime | None = None

    @property
    def closed(self) -> bool:
        return self.state == CLOSED


def utc_text(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def freezes_for(components, range_start: datetime, range_end: datetime | None = None) -> QuerySet:
    """The freezes that apply to any of these components (estate-wide, their environment's or their
    system's) and overlap the range (open-ended when range_end is None). The one scope rule that
    patch windows, operations, policies and the calendar state all follow."""
    envs = {c.environment_id for c in components}
    systems = {c.system_id for c in components if c.system_id}
    scope = (
        Q(scope=FreezeScope.ALL)
        | Q(scope=FreezeScope.ENVIRONMENT, environment_id__in=envs)
        | Q(scope=FreezeScope.SYSTEM, system_id__in=systems)
    )
    qs = ChangeFreeze.objects.filter(scope, end__gt=range_start)
    if range_end is not None:
        qs = qs.filter(start__lt=range_end)
    return qs.select_related("environment", "system")


def _covering(component: Component, at: datetime) -> list[ChangeFreeze]:
    # Half-open [start, end): closed from the freeze's first moment, open again at its end.
    return list(freezes_for([component], at).filter(start__lte=at).order_by("-end", "pk"))


def _reopens_at(component: Component, end: datetime) -> datetime:
    """When changes reopen: the end of the last of the freezes that follow on without a gap."""
    for _ in range(MAX_CHAINED_FREEZES):
        following = _covering(component, end)
        if not following:
            break
        end = following[0].end
    return end


def calendar_state(component: Component, at: datetime | None = None) -> CalendarState:
    """OPEN or CLOSED for this component at `at` (now by default), with the reason and the next change.

    Operations, policies and the calendar-state endpoint all ask this, so one rule decides."""
    at = at or timezone.now()
    covering = _covering(component, at)
    if covering:
        freeze = covering[0]
        reopens = _reopens_at(component, freeze.end)
        reason = f"{component.name} is in the change freeze “{freeze.name}” until {utc_text(freeze.end)}"
        if reopens != freeze.end:
            reason += f"; further freezes follow, so changes reopen at {utc_text(reopens)}"
        return CalendarState(CLOSED, reason + ".", freeze, reopens)
    upcoming = freezes_for([component], at).order_by("start", "pk").first()
    reason = f"{component.name} is in no change freeze"
    if upcoming is None:
        return CalendarState(OPEN, reason + ".")
    reason += f"; the next, “{upcoming.name}”, starts at {utc_text(upcoming.start)}."
    return CalendarState(OPEN, reason, None, upcoming.start)
