from __future__ import annotations

from django import template

from estate.runbooks.choices import STEP_STATE_COLOURS

register = template.Library()


@register.filter
def run_step_colour(state: str) -> str:
    return STEP_STATE_COLOURS.get(state, "secondary")
