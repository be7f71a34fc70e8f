from __future__ import annotations

from django import template

from estate.patching import selectors
from estate.patching.choices import STATUS_COLOURS

register = template.Library()


@register.filter
def status_colour(status: str) -> str:
    """The Tabler colour of an occurrence status, from the one mapping the calendar also uses."""
    return STATUS_COLOURS.get(status, "secondary")


@register.simple_tag
def calendar_state(component) -> selectors.CalendarState:
    """The component's change calendar now; asked once per page, however many forms show it."""
    state = getattr(component, "_calendar_state", None)
    if state is None:
        state = component._calendar_state = selectors.calendar_state(component)
    return state
