"""Reads: occurrences of many windows over a range, in a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from estate.inventory.choices import Mode
from estate.inventory.models import Component
from estate.patching.choices import FREE_STATUSES, OccurrenceStatus
from estate.patching.models import MAX_DURATION, Occurrence, PatchWindow, occurrence_key
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
            queryset=Component.objects.only(
                "id", "name", "slug", "cluster_id", "environment_id", "system_id", "team_id"
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
