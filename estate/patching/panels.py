from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from estate.inventory.models import Component
from estate.patching import deadlines, selectors


def component_panel(request, component: Component) -> dict:
    """A bastion's next occurrences and its blast radius; nothing for an immutable component."""
    if component.is_immutable:
        return {"component": component, "show": False}
    now = timezone.now()
    windows = selectors.active_in(selectors.window_list().filter(components=component), now, now + timedelta(days=120))
    upcoming = selectors.occurrences_between(windows, now, now + timedelta(days=120))[:8]
    return {
        "component": component,
        "show": True,
        "upcoming": upcoming,
        "blast_radius": list(selectors.blast_radius([component.pk])[:50]),
    }


def deadlines_panel(request, component: Component) -> dict:
    """A bastion's deadlines set by others (vendor, end of life), each with its proposal; nothing when none."""
    if component.is_immutable:
        return {"show": False}
    rows = deadlines.component_deadlines(component)
    now = timezone.now()
    for d in rows:
        d.days_left = deadlines.days_left(d, now)
        d.days_ago = -d.days_left
        d.minutes = deadlines.minutes(d) if d.proposed_start else None
    return {"component": component, "show": bool(rows), "deadlines": rows}
