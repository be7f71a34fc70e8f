from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse

from estate.audit import selectors
from estate.audit.services import object_type_of

PANEL_EVENTS = 20


def history_url(object_type: str, object_id) -> str:
    return f"{reverse('audit_list')}?{urlencode({'object_type': object_type, 'object_id': object_id})}"


def history_panel(request, obj) -> dict:
    """The object's last events, for people who may read the audit trail (one query)."""
    if not request.user.has_perm("audit.view_auditevent"):
        return {"show": False}
    object_type = object_type_of(obj)
    return {
        "show": True,
        "events": selectors.object_history(object_type, obj.pk, limit=PANEL_EVENTS),
        "more_url": history_url(object_type, obj.pk),
    }
