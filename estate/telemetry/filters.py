"""One FilterSet per listed telemetry model, shared by the API and any page that lists them."""

from __future__ import annotations

import django_filters

from estate.core.filters import FilterSet, IdFilter, MomentFilter
from estate.telemetry.models import Sample


class SampleFilterSet(FilterSet):
    component = IdFilter(field_name="component_id")
    # The instance is a plain id on a sample (no constraint): its history outlives it, so does the filter.
    instance = IdFilter(field_name="instance_id")
    name = django_filters.CharFilter(help_text="The metric's name, exactly.")
    since = MomentFilter(field_name="ts", lookup_expr="gte", help_text="Samples at or after this ISO 8601 time.")
    until = MomentFilter(field_name="ts", lookup_expr="lt", help_text="Samples before this ISO 8601 time.")

    class Meta:
        model = Sample
        fields = ["component", "instance", "name", "since", "until"]
