"""Links from an event to its object's page, built from object_type and object_id without a query.

The audit app imports no other app: it knows their pages by URL name only. A type missing here
links to its history instead.
"""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse

_urls: dict[str, str] = {}


def register_object_url(object_type: str, url_name: str) -> None:
    """`url_name` takes the object's primary key as its only argument."""
    _urls[object_type] = url_name


def object_url(object_type: str, object_id: str) -> str:
    name = _urls.get(object_type)
    if not name or not object_id.isdigit():
        return ""
    try:
        return reverse(name, args=[int(object_id)])
    except NoReverseMatch:
        return ""


def register_defaults() -> None:
    register_object_url("inventory.component", "component_detail")
    register_object_url("operations.operation", "operation_detail")
    register_object_url("patching.patchwindow", "patch_window_edit")
