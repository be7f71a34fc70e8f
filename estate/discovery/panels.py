"""The component page's "Source" panel: where discovery found the component and when it last saw it."""

from __future__ import annotations

from estate.discovery.models import DiscoveredObject


def origin_panel(request, component) -> dict:
    """One query; nothing shown for a component no source found (typed in, or from a catalog)."""
    origin = DiscoveredObject.objects.select_related("source").filter(component=component).first()
    return {"show": origin is not None, "origin": origin}
