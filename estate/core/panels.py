"""Panels that higher apps add to a lower app's page without the lower app importing them.

The component page (inventory) shows health (telemetry) and patch windows (patching): each app
registers a panel in its AppConfig.ready() with the template to include and a function that
builds its context with a bounded number of queries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Panel:
    slug: str
    template: str
    context: Callable[[Any, Any], dict]  # (request, obj) -> template context
    order: int = 50


_panels: dict[str, dict[str, Panel]] = {}


def register_panel(page: str, panel: Panel) -> None:
    _panels.setdefault(page, {})[panel.slug] = panel


def render_panels(page: str, request, obj) -> list[dict]:
    """[{"template": ..., "context": {...}}] for every panel registered on the page, in order."""
    panels = sorted(_panels.get(page, {}).values(), key=lambda p: (p.order, p.slug))
    return [{"slug": p.slug, "template": p.template, "context": p.context(request, obj)} for p in panels]


# Annotations: a higher app's short words on a lower app's list (a runbook run's progress on the calendar).
_annotators: dict[str, list[Callable[[list], dict]]] = {}


def register_annotator(page: str, annotator: Callable[[list], dict]) -> None:
    """`annotator(objects)` returns {object key: text}, in a bounded number of queries."""
    _annotators.setdefault(page, []).append(annotator)


def annotations(page: str, objects: list) -> dict:
    found: dict = {}
    for annotator in _annotators.get(page, []):
        found.update(annotator(objects))
    return found
