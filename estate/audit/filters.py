"""One FilterSet for the audit trail, shared by the page, the CSV export and the API."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django_filters.fields import IsoDateTimeField

from estate.audit.choices import AuditAction
from estate.audit.models import AuditEvent

# A time without a zone (what the browser's picker sends) is read in the server's zone, UTC by default.
_MOMENT = forms.DateTimeInput(attrs={"type": "datetime-local"})


class _UtcDateTimeField(IsoDateTimeField):
    """An ISO 8601 moment, handed to the database in UTC: PostgreSQL refuses offsets past ±16 hours."""

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValidationError("Give a date and time between the years 1 and 9999.", code="invalid") from None


class MomentFilter(django_filters.IsoDateTimeFilter):
    field_class = _UtcDateTimeField


class AuditEventFilterSet(django_filters.FilterSet):
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
