"""One FilterSet per model, shared by the API and the browser list."""

from __future__ import annotations

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q

from estate.core.filters import FilterSet, IdFilter, StableOrderingFilter
from estate.inventory.choices import Category, Engine, Health, InstanceState, Mode, Provider
from estate.inventory.models import (
    Component,
    Environment,
    Image,
    Instance,
    System,
    Tag,
    Team,
)


def _slug_choice(model, label: str, **kwargs) -> django_filters.ModelChoiceFilter:
    return django_filters.ModelChoiceFilter(queryset=model.objects.all(), to_field_name="slug", label=label, **kwargs)


class _BooleanSelect(forms.NullBooleanSelect):
    """Django's yes/no/any select, except that a value it does not know reaches the field to be refused."""

    def value_from_datadict(self, data, files, name):
        value = super().value_from_datadict(data, files, name)
        raw = data.get(name)
        return raw if value is None and raw not in (None, "", "unknown") else value


class _BooleanField(forms.NullBooleanField):
    widget = _BooleanSelect

    def to_python(self, value):
        if value in (None, "", "unknown"):
            return None
        result = super().to_python(value)
        if result is None:
            # Otherwise ?holds_state=yes would silently return every row.
            raise ValidationError("Use true or false.", code="invalid")
        return result


class BooleanFilter(django_filters.BooleanFilter):
    field_class = _BooleanField


class ComponentFilterSet(FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    mode = django_filters.ChoiceFilter(choices=Mode.choices)
    health = django_filters.ChoiceFilter(choices=Health.choices)
    category = django_filters.ChoiceFilter(choices=Category.choices)
    environment = _slug_choice(Environment, "Environment")
    system = _slug_choice(System, "System")
    team = _slug_choice(Team, "Owner team")
    tag = django_filters.ModelChoiceFilter(
        field_name="tags", queryset=Tag.objects.all(), to_field_name="slug", label="Tag"
    )
    holds_state = BooleanFilter()
    provider = django_filters.ChoiceFilter(choices=Provider.choices)
    engine = django_filters.ChoiceFilter(choices=Engine.choices)
    ordering = StableOrderingFilter(
        fields=(
            ("name", "name"),
            ("mode", "mode"),
            ("health", "health"),
            ("category", "category"),
            ("environment__name", "environment"),
            ("system__name", "system"),
            ("team__name", "team"),
            ("instance_count", "instances"),
            ("updated_at", "updated"),
        )
    )

    class Meta:
        model = Component
        fields = [
            "q",
            "mode",
            "health",
            "category",
            "environment",
            "system",
            "team",
            "tag",
            "holds_state",
            "provider",
            "engine",
        ]

    def search(self, queryset, name, value):
        terms = Q()
        for field in (
            "name",
            "slug",
            "description",
            "engine_version",
            "system__name",
            "team__name",
        ):
            terms |= Q(**{f"{field}__icontains": value})
        return queryset.filter(terms)


class InstanceFilterSet(FilterSet):
    component = IdFilter(field_name="component_id")
    environment = _slug_choice(Environment, "Environment", field_name="component__environment")
    state = django_filters.ChoiceFilter(choices=InstanceState.choices)
    tainted = BooleanFilter()
    external_id = django_filters.CharFilter()
    ordering = StableOrderingFilter(fields=("external_id", "launched_at", "state", "component__name"))

    class Meta:
        model = Instance
        fields = ["component", "environment", "state", "tainted", "external_id"]


class ImageFilterSet(FilterSet):
    component = IdFilter(field_name="component_id")
    ordering = StableOrderingFilter(fields=("built_at", "version"))

    class Meta:
        model = Image
        fields = ["component"]


class SystemFilterSet(FilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Search")
    owner = _slug_choice(Team, "Owner team")
    ordering = StableOrderingFilter(fields=("name",))

    class Meta:
        model = System
        fields = ["q", "owner"]
