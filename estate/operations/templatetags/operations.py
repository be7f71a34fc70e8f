from __future__ import annotations

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from estate.operations.choices import STATE_COLOURS
from estate.operations.selectors import requester_label

register = template.Library()


@register.simple_tag
def operation_badge(operation):
    colour = STATE_COLOURS.get(operation.state, "secondary")
    return format_html(
        '<span class="badge bg-{}-lt" data-state="{}">{}</span>', colour, operation.state, operation.get_state_display()
    )


@register.filter
def param_shown(value) -> str:
    """An operation parameter as a person reads it: yes/no, "25, 50", and a PromQL condition as query ≤ bound."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return format_html_join(
            mark_safe("<br>"), "{}", ((_condition(item) if isinstance(item, dict) else item,) for item in value)
        )
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _condition(item: dict) -> str:
    bound = f"≤ {item['max']:g}" if "max" in item else f"≥ {item.get('min', 0):g}"
    return f"{item.get('query', '')} {bound}"


@register.simple_tag
def requester(operation):
    """The one wording of who asked for an operation; a token's owner on hover."""
    label = requester_label(operation)
    owner = operation.requested_by.get_username() if operation.requested_by_id and label.startswith("a script") else ""
    if owner:
        return format_html('<span data-testid="requester" title="token of {}">{}</span>', owner, label)
    return format_html('<span data-testid="requester">{}</span>', label)
