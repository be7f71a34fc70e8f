from __future__ import annotations

import django_filters
from django import forms

from estate.core.filters import FilterSet
from estate.outbox.choices import MessageState
from estate.outbox.models import OutboxMessage


class OutboxMessageFilterSet(FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=MessageState.choices, widget=forms.CheckboxSelectMultiple)
    kind = django_filters.CharFilter()

    class Meta:
        model = OutboxMessage
        fields = ["state", "kind"]
