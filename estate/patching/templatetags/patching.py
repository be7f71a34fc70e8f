from __future__ import annotations

from django import template

from estate.patching.choices import STATUS_COLOURS

register = template.Library()


@register.filter
def status_colour(status: str) -> str:
    """The Tabler colour of an occurrence status, from the one mapping the calendar also uses."""
    return STATUS_COLOURS.get(status, "secondary")
