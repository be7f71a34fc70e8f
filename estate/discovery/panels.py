"""The component page's "Source" panel: where discovery found the component and when it last saw it."""

from __future__ import annotations

from estate.access import scope
from estate.discovery.models import DiscoveredObject
from estate.discovery.ownership import managed_fields


def origin_panel(request, component) -> dict:
    """One query; nothing shown for a component no source found (typed in, or from a catalog)."""
    origin = DiscoveredObject.objects.select_related("source", "detached_by").filter(component=component).first()
    if origin is None:
        return {"show": False}
    managed = [] if origin.detached_at else list(managed_fields(origin.source))
    user = request.user
    may_detach = bool(managed) and user.has_perm("inventory.change_component") and scope.allows(user, component)
    return {"show": True, "origin": origin, "managed": managed, "may_detach": may_detach}
