from __future__ import annotations

import json

from django import template
from django.utils.html import format_html

from estate.audit.choices import ACTION_COLOURS, AuditAction
from estate.audit.links import object_url
from estate.audit.panels import history_url

register = template.Library()

LONGEST_VALUE = 120


@register.simple_tag
def action_badge(event) -> str:
    label = AuditAction(event.action).label if event.action in AuditAction.values else event.action
    return format_html('<span class="badge bg-{}-lt">{}</span>', ACTION_COLOURS.get(event.action, "secondary"), label)


@register.filter
def audit_value(value) -> str:
    """A recorded value in a few characters: lists joined, objects as compact JSON, long text cut."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list) and all(not isinstance(v, (list, dict)) for v in value):
        text = ", ".join(str(v) for v in value) or "none"
    elif isinstance(value, (list, dict)):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = str(value)
    return text if len(text) <= LONGEST_VALUE else text[: LONGEST_VALUE - 1] + "…"


@register.simple_tag
def event_object_url(event) -> str:
    """The object's page (built without a query); none once it is deleted."""
    if event.action == AuditAction.DELETE:
        return ""
    return object_url(event.object_type, event.object_id)


@register.simple_tag
def event_history_url(event) -> str:
    return history_url(event.object_type, event.object_id) if event.object_type and event.object_id else ""


@register.filter
def shown_rows(rows: list, is_diff: bool) -> list:
    """Every row of a diff; the fields of a snapshot that hold something (an empty one says nothing)."""
    return rows if is_diff else [row for row in rows if row[1] not in (None, "", [], {})]


@register.filter
def event_rows(event) -> list:
    """The change rows with related ids as names when the view resolved them (selectors.with_names)."""
    named = getattr(event, "named_rows", None)
    return named if named is not None else event.change_rows


SUMMARY_FIELDS = 4


@register.simple_tag
def diff_summary(rows: list, is_diff: bool) -> str:
    """The one line an event shows folded: the change itself when it is one field, else the fields' names."""
    if is_diff and len(rows) == 1:
        name, before, after = rows[0]
        return f"{name}: {audit_value(before)} → {audit_value(after)}"
    names = [row[0] for row in rows]
    shown = ", ".join(names[:SUMMARY_FIELDS])
    more = f" and {len(names) - SUMMARY_FIELDS} more" if len(names) > SUMMARY_FIELDS else ""
    return f"{'changed' if is_diff else 'set'} {shown}{more}"
