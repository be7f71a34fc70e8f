"""The conflict rules of principle 5, checked on every create and change of a window.

Each check is bounded to the range that matters (now to the planning horizon) and to the windows
that share a component, a cluster or an immutable dependent with the draft: its cost does not
grow with the number of windows in the estate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from estate.inventory.choices import Mode
from estate.inventory.models import Component
from estate.patching import selectors
from estate.patching.choices import ConflictRule
from estate.patching.models import PatchWindow

ERROR, WARNING = "error", "warning"


@dataclass
class Conflict:
    rule: str
    severity: str
    message: str
    at: datetime
    other_window_id: int | None = None
    other_title: str = ""
    freeze_id: int | None = None
    count: int = 1

    def as_dict(self) -> dict:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message + (f" (and {self.count - 1} more times)" if self.count > 1 else ""),
            "at": self.at.isoformat(),
            "other_window": self.other_window_id,
            "freeze": self.freeze_id,
        }


@dataclass
class Draft:
    """A window as it would be saved; `window_id` is the window being changed, if any."""

    components: list[Component]
    start: datetime
    duration: timedelta
    time_zone: str = "UTC"
    rrule: str = ""
    window_id: int | None = None
    intervals: list[tuple[datetime, datetime]] | None = None  # overrides expansion (a moved occurrence)

    def as_window(self) -> PatchWindow:
        return PatchWindow(
            pk=self.window_id, start=self.start, duration=self.duration, time_zone=self.time_zone, rrule=self.rrule
        )


def horizon(first_start: datetime | None = None) -> tuple[datetime, datetime]:
    """From now to the planning horizon after now, or after the window's first start if later."""
    now = timezone.now()
    return now, max(now, first_start or now) + timedelta(days=settings.PATCHING_HORIZON_DAYS)


def draft_intervals(draft: Draft, range_start: datetime, range_end: datetime) -> list[tuple[datetime, datetime]]:
    if draft.intervals is not None:
        return draft.intervals
    occurrences = selectors.occurrences_between([draft.as_window()], range_start, range_end, include_free=False)
    return [(o.start, o.end) for o in occurrences]


def find_conflicts(draft: Draft) -> list[Conflict]:
    """Every rule the draft breaks, errors first; each names the other window or freeze and the time."""
    range_start, range_end = horizon(draft.start)
    if draft.intervals:
        range_start = min(range_start, min(s for s, _ in draft.intervals))
        range_end = max(range_end, max(e for _, e in draft.intervals))
    intervals = draft_intervals(draft, range_start, range_end)
    bastions = [c for c in draft.components if c.mode == Mode.BASTION]
    if not intervals or not bastions:
        return []
    tz = ZoneInfo(draft.time_zone)
    found: dict[tuple, Conflict] = {}
    _cluster_together(bastions, intervals[0][0], found)
    _window_conflicts(draft, bastions, intervals, tz, found)
    _freeze_conflicts(bastions, intervals, tz, found)
    return sorted(found.values(), key=lambda c: (c.severity != ERROR, c.at))


def _when(moment: datetime, tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    return f"{moment.astimezone(ZoneInfo('UTC')):%a %Y-%m-%d %H:%M} UTC ({local:%H:%M} {tz.key})"


def _record(found: dict, key: tuple, conflict: Conflict) -> None:
    if key in found:
        found[key].count += 1
    else:
        found[key] = conflict


def _cluster_together(bastions: list[Component], first: datetime, found: dict) -> None:
    """Two members of one cluster in this very window: every occurrence would take both down."""
    members: dict[int, list[str]] = {}
    for c in bastions:
        if c.cluster_id:
            members.setdefault(c.cluster_id, []).append(c.name)
    for cluster_id, names in members.items():
        if len(names) > 1:
            message = (
                f"{', '.join(sorted(names))} are members of one cluster: this window would patch them together. "
                "Never patch primary and replica together; give each its own window."
            )
            conflict = Conflict(rule=ConflictRule.SAME_CLUSTER, severity=ERROR, message=message, at=first)
            _record(found, (ConflictRule.SAME_CLUSTER, "this window", cluster_id), conflict)


def _window_conflicts(draft: Draft, bastions: list[Component], intervals, tz, found: dict) -> None:
    own = {c.pk for c in bastions}
    clusters = {c.cluster_id: c for c in bastions if c.cluster_id}
    mates = {c.pk: c for c in Component.objects.filter(cluster_id__in=list(clusters)).exclude(pk__in=own)}
    siblings = _shared_dependents(own)
    related = own | set(mates) | set(siblings)
    lo, hi = min(s for s, _ in intervals), max(e for _, e in intervals)
    others = selectors.active_in(
        selectors.window_list().filter(components__in=related, paused=False).exclude(pk=draft.window_id), lo, hi
    ).distinct()
    for occurrence in selectors.occurrences_between(others, lo, hi, include_free=False):
        for start, end in intervals:
            if start < occurrence.end and occurrence.start < end:
                _pair(occurrence, start, bastions, mates, siblings, tz, found)


def _shared_dependents(own: set[int]) -> dict[int, str]:
    """Other bastions that an immutable component depends on together with one of ours: {id: immutable name}."""
    through = Component.depends_on.through
    immutables = through.objects.filter(to_component_id__in=own, from_component__mode=Mode.IMMUTABLE)
    pairs = (
        through.objects.filter(from_component_id__in=immutables.values("from_component_id"))
        .filter(to_component__mode=Mode.BASTION)
        .exclude(to_component_id__in=own)
        .values_list("to_component_id", "from_component__name")
    )
    return dict(pairs)


def _pair(occurrence, start, bastions, mates, siblings, tz, found) -> None:
    other, when = occurrence.window, _when(max(start, occurrence.start), tz)
    theirs = {c.pk: c for c in other.components.all()}
    shared = [c.name for c in bastions if c.pk in theirs]
    if shared:
        message = f"Overlaps “{other.title}” on {when}: both take down {', '.join(shared)}."
        _record(
            found,
            (ConflictRule.SAME_COMPONENT, other.pk),
            _conflict(ConflictRule.SAME_COMPONENT, ERROR, message, occurrence),
        )
    for mate_id, mate in mates.items():
        if mate_id in theirs:
            ours = next(c for c in bastions if c.cluster_id == mate.cluster_id)
            message = (
                f"{ours.name} and {mate.name} are members of one cluster; “{other.title}” patches {mate.name} on "
                f"{when}. Never patch primary and replica together."
            )
            _record(
                found,
                (ConflictRule.SAME_CLUSTER, other.pk),
                _conflict(ConflictRule.SAME_CLUSTER, ERROR, message, occurrence),
            )
    for sibling_id, immutable in siblings.items():
        if sibling_id in theirs:
            message = (
                f"{immutable} depends on a component of this window and on {theirs[sibling_id].name}, which "
                f"“{other.title}” takes down on {when}: the blast radius doubles."
            )
            key = (ConflictRule.SHARED_DEPENDENT, other.pk)
            _record(found, key, _conflict(ConflictRule.SHARED_DEPENDENT, WARNING, message, occurrence))


def _conflict(rule, severity, message, occurrence) -> Conflict:
    return Conflict(
        rule=rule,
        severity=severity,
        message=message,
        at=occurrence.start,
        other_window_id=occurrence.window.pk,
        other_title=occurrence.window.title,
    )


def _freeze_conflicts(bastions, intervals, tz, found: dict) -> None:
    lo, hi = min(s for s, _ in intervals), max(e for _, e in intervals)
    for freeze in selectors.freezes_for(bastions, lo, hi):
        for start, end in intervals:
            if start < freeze.end and freeze.start < end:
                message = (
                    f"Falls in change freeze “{freeze.name}” ({freeze.target}, {freeze.start:%Y-%m-%d %H:%M} to "
                    f"{freeze.end:%Y-%m-%d %H:%M} UTC) on {_when(start, tz)}."
                )
                conflict = Conflict(ConflictRule.FREEZE, ERROR, message, start, freeze_id=freeze.pk)
                _record(found, (ConflictRule.FREEZE, freeze.pk), conflict)
