from __future__ import annotations

import django_filters
from django import forms

from estate.core.filters import FilterSet, IdFilter
from estate.operations.choices import OperationKind, OperationState
from estate.operations.models import Operation


class OperationFilterSet(FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=OperationState.choices, widget=forms.CheckboxSelectMultiple)
    kind = django_filters.ChoiceFilter(choices=OperationKind.choices)
    component = IdFilter(field_name="component_id")
    policy = django_filters.CharFilter()

    class Meta:
        model = Operation
        fields = ["state", "kind", "component", "policy"]
