from __future__ import annotations

import django_filters

from estate.core.filters import FilterSet, IdFilter
from estate.patching.choices import DeadlineSource
from estate.patching.models import Deadline


class DeadlineFilterSet(FilterSet):
    component = IdFilter(field_name="component_id")
    source = django_filters.ChoiceFilter(choices=DeadlineSource.choices)
    accepted = django_filters.BooleanFilter(field_name="window", lookup_expr="isnull", exclude=True)

    class Meta:
        model = Deadline
        fields = ["component", "source", "accepted"]
