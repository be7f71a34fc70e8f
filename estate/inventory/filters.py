"""One FilterSet per model, shared by the API and the browser list."""

from __future__ import annotations

import django_filters
from django.db.models import Q

from estate.inventory.choices import Category, Engine, InstanceState, Mode, Provider
from estate.inventory.models import (
    Component,
    Environment,
    Image,
    Instance,
    System,
    Tag,
    Team,
)


def _slug_choice(model, label: str) -> django_filters.ModelChoiceFilter:
    return django_filters.ModelChoiceFilter(queryset=model.objects.all(), to_field_name="slug", label=label)


class ComponentFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    mode = django_filters.ChoiceFilter(choices=Mode.choices)
    category = django_filters.ChoiceFilter(choices=Category.choices)
    environment = _slug_choice(Environment, "Environment")
    system = _slug_choice(System, "System")
    team = _slug_choice(Team, "Owner team")
    tag = django_filters.ModelChoiceFilter(
        field_name="tags", queryset=Tag.objects.all(), to_field_name="slug", label="Tag"
    )
    holds_state = django_filters.BooleanFilter()
    provider = django_filters.ChoiceFilter(choices=Provider.choices)
    engine = django_filters.ChoiceFilter(choices=Engine.choices)
    ordering = django_filters.OrderingFilter(
        fields=(
            ("name", "name"),
            ("mode", "mode"),
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


class InstanceFilterSet(django_filters.FilterSet):
    component = django_filters.NumberFilter(field_name="component_id")
    environment = django_filters.CharFilter(field_name="component__environment__slug")
    state = django_filters.ChoiceFilter(choices=InstanceState.choices)
    tainted = django_filters.BooleanFilter()
    external_id = django_filters.CharFilter()
    ordering = django_filters.OrderingFilter(fields=("external_id", "launched_at", "state", "component__name"))

    class Meta:
        model = Instance
        fields = ["component", "environment", "state", "tainted", "external_id"]


class ImageFilterSet(django_filters.FilterSet):
    component = django_filters.NumberFilter(field_name="component_id")
    ordering = django_filters.OrderingFilter(fields=("built_at", "version"))

    class Meta:
        model = Image
        fields = ["component"]


class SystemFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Search")
    owner = _slug_choice(Team, "Owner team")
    ordering = django_filters.OrderingFilter(fields=("name",))

    class Meta:
        model = System
        fields = ["q", "owner"]
