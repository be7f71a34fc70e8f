"""What the calendar marks on an occurrence: conflicts and lateness a person should see at a glance.

The same rules as the window checks (estate.patching.conflicts), read off the occurrences already on
screen instead of a draft: two occurrences taking down one component or two members of one cluster
at once, an occurrence inside a change freeze that covers one of its components, and one still in
progress after its end (overdue). No query: everything comes from the rows the calendar shows.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from itertools import combinations

from estate.patching.choices import FREE_STATUSES, FreezeScope, OccurrenceStatus


def occurrence_marks(occurrences: list, freezes: list, now: datetime) -> dict[str, list[str]]:
    """{occurrence key: reasons}, for the occurrences that conflict or are overdue."""
    live = [o for o in occurrences if o.status not in FREE_STATUSES]
    marks: dict[str, list[str]] = defaultdict(list)
    for o in live:
        if o.status == OccurrenceStatus.IN_PROGRESS and o.end <= now:
            marks[o.key].append("Overdue: still in progress after its end.")
    _overlaps(live, marks)
    _in_freezes(live, freezes, marks)
    return dict(marks)


def _overlaps(live: list, marks: dict) -> None:
    sharing: dict[tuple, list] = defaultdict(list)
    for o in live:
        for c in o.window.components.all():
            sharing[("component", c.pk)].append((o, c))
            if c.cluster_id:
                sharing[("cluster", c.cluster_id)].append((o, c))
    for (kind, _), items in sharing.items():
        for (a, ca), (b, cb) in combinations(items, 2):
            if a.window.pk == b.window.pk or not (a.start < b.end and b.start < a.end):
                continue
            if kind == "component":
                why = f"Overlaps “{{other}}”: both take down {ca.name}."
            elif ca.pk != cb.pk:
                why = "{own} and {theirs} are one cluster; “{other}” patches {theirs} at the same time."
            else:
                continue  # the same component: said once, by the component rule
            _say(marks, a, why.format(other=b.window.title, own=ca.name, theirs=cb.name))
            _say(marks, b, why.format(other=a.window.title, own=cb.name, theirs=ca.name))


def _in_freezes(live: list, freezes: list, marks: dict) -> None:
    for o in live:
        components = list(o.window.components.all())
        for freeze in freezes:
            if freeze.start < o.end and o.start < freeze.end and any(_covers(freeze, c) for c in components):
                _say(marks, o, f"Inside change freeze “{freeze.name}” ({freeze.target}).")


def _covers(freeze, component) -> bool:
    if freeze.scope == FreezeScope.ENVIRONMENT:
        return freeze.environment_id == component.environment_id
    if freeze.scope == FreezeScope.SYSTEM:
        return freeze.system_id == component.system_id
    return True


def _say(marks: dict, occurrence, reason: str) -> None:
    if reason not in marks[occurrence.key]:
        marks[occurrence.key].append(reason)
