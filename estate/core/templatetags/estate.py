from __future__ import annotations

from datetime import datetime

from django import template
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.utils.dateformat import format as date_format
from django.utils.html import format_html

from estate.core.choices import STATUS_COLOURS
from estate.core.timezones import UTC_ZONE, viewer_zone

register = template.Library()


@register.filter
def colour(value) -> str:
    """The one colour mapping for statuses, severities and modes."""
    return STATUS_COLOURS.get(str(value), "secondary")


@register.simple_tag
def badge(value, label=None):
    text = label if label is not None else str(value).replace("_", " ")
    return format_html('<span class="badge bg-{}-lt">{}</span>', colour(value), text)


@register.filter
def duration_short(seconds) -> str:
    """12.3 s, 4 min 05 s, 2 h 03 min: a step's or an operation's length at a glance."""
    if seconds is None:
        return "—"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@register.simple_tag
def reltime(value: datetime | None):
    """'3 minutes ago', with the absolute time on hover (turned into the viewer's zone by app.js)."""
    if not value:
        return "—"
    iso = value.isoformat()
    return format_html('<time datetime="{}" title="{}">{}</time>', iso, iso, naturaltime(value))


ZONED_FORMATS = {"datetime": "D Y-m-d H:i", "time": "H:i"}


@register.simple_tag(takes_context=True)
def viewer_time(context, value: datetime | None, part: str = "datetime"):
    """An absolute time in the viewer's zone, with UTC on hover: `{% viewer_time w.start %}`.

    `part` is "datetime" (Tue 2027-01-05 02:00 EST) or "time" (03:00 EST). static/js/timezone.js
    re-renders it when the browser's zone differs from the one the server knew (data-zone).
    """
    if not value:
        return "—"
    zone = viewer_zone(context.get("request"))
    fmt = ZONED_FORMATS.get(part, ZONED_FORMATS["datetime"])
    utc = value.astimezone(UTC_ZONE)
    return format_html(
        '<time datetime="{}" data-zone="{}" data-part="{}" title="{} UTC">{}</time>',
        utc.isoformat(),
        zone.key,
        part,
        date_format(utc, ZONED_FORMATS["datetime"]),
        date_format(value.astimezone(zone), fmt + " T"),
    )


@register.inclusion_tag("partials/sort_header.html", takes_context=True)
def sort_header(context, field: str, label: str, numeric: bool = False):
    current = context["request"].GET.get("ordering", "")
    descending = current == f"-{field}"
    active = current in (field, f"-{field}")
    return {
        "request": context["request"],
        "label": label,
        "next_ordering": field if descending or not active else f"-{field}",
        "active": active,
        "descending": descending,
        "numeric": numeric,
    }
