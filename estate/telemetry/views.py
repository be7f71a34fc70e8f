from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render

from estate.inventory.models import Component
from estate.telemetry.selectors import health_counts, health_panel_context


@login_required
def component_health(request, pk: int):
    """The component page's health panel alone, for HTMX to refresh every 30 seconds."""
    component = get_object_or_404(Component.objects.select_related("environment"), pk=pk)
    return render(request, "telemetry/health_panel.html#health", {"panel": health_panel_context(request, component)})


@login_required
def health_tiles(request):
    """The dashboard's health tiles alone, for HTMX to refresh."""
    return render(request, "telemetry/health_tiles.html", {"health_tiles": health_counts()})
