"""One FilterSet for the audit trail, shared by the page, the CSV export and the API."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q

from estate.audit.choices import AuditAction
from estate.audit.models import AuditEvent
from estate.core.filters import FilterSet, MomentFilter

# A time without a zone (what the browser's picker sends) is read in the server's zone, UTC by default.
_MOMENT = forms.DateTimeInput(attrs={"type": "datetime-local"})


class AuditEventFilterSet(FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    actor = django_filters.CharFilter(label="Who")
    action = django_filters.MultipleChoiceFilter(choices=AuditAction.choices, widget=forms.CheckboxSelectMultiple)
    object_type = django_filters.CharFilter(label="Object type", help_text="app_label.model, e.g. inventory.component")
    object_id = django_filters.CharFilter(label="Object id")
    since = MomentFilter(field_name="at", lookup_expr="gte", label="Since", widget=_MOMENT)
    until = MomentFilter(field_name="at", lookup_expr="lt", label="Until", widget=_MOMENT)

    class Meta:
        model = AuditEvent
        fields = ["q", "actor", "action", "object_type", "object_id", "since", "until"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(object_repr__icontains=value) | Q(message__icontains=value))
