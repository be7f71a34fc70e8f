from __future__ import annotations

from django import template
from django.utils.html import format_html

from estate.operations.choices import STATE_COLOURS

register = template.Library()


@register.simple_tag
def operation_badge(operation):
    colour = STATE_COLOURS.get(operation.state, "secondary")
    return format_html(
        '<span class="badge bg-{}-lt" data-state="{}">{}</span>', colour, operation.state, operation.get_state_display()
    )
