from __future__ import annotations

from rest_framework import permissions, viewsets

from estate.audit import selectors
from estate.audit.api.serializers import AuditEventSerializer
from estate.audit.filters import AuditEventFilterSet
from estate.core.listing import ValuesListMixin


class CanViewAudit(permissions.BasePermission):
    """Reading the audit trail needs audit.view_auditevent (every role has it; an outsider does not)."""

    message = "Reading the audit trail needs the audit.view_auditevent permission."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm("audit.view_auditevent"))


class AuditEventViewSet(ValuesListMixin, viewsets.ReadOnlyModelViewSet):
    """The append-only audit trail, newest first: who did what to which object, from where, and what changed."""

    queryset = selectors.event_list()
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilterSet
    permission_classes = [CanViewAudit]
    export_ndjson = True
