"""Filter sets built lean per request (estate.core.filters.LeanFilterSetMixin, FilterBackend): each filter set
still has filters of its own, its methods bound to it, and forms that see the database as it is now."""

from __future__ import annotations

import django_filters
import pytest
from django.http import QueryDict
from django.test import RequestFactory
from rest_framework.request import Request

from estate.core.filters import FilterBackend, FilterSet
from estate.inventory.filters import ComponentFilterSet
from estate.inventory.models import Component, Environment
from estate.telemetry.api.views import HealthChangeViewSet
from tests.factories import ImmutableComponentFactory

pytestmark = pytest.mark.django_db


class _Recording(FilterSet):
    """A method filter that notes which filter set ran it, and with which request."""

    name = django_filters.CharFilter(method="by_name")
    seen: list = []

    class Meta:
        model = Component
        fields = ["name"]

    def by_name(self, queryset, name, value):
        type(self).seen.append((self, self.request))
        return queryset.filter(name=value)


def test_each_filter_set_has_its_own_filters_and_runs_its_own_methods():
    first_request, second_request = RequestFactory().get("/a"), RequestFactory().get("/b")
    first = _Recording(QueryDict("name=a"), Component.objects.all(), request=first_request)
    second = _Recording(QueryDict("name=b"), Component.objects.all(), request=second_request)
    assert first.filters["name"] is not second.filters["name"]
    assert first.filters["name"].parent is first and second.filters["name"].parent is second
    assert not hasattr(_Recording.base_filters["name"], "parent")  # the class's filters stay untouched

    _Recording.seen.clear()
    second.qs, first.qs  # noqa: B018 (evaluated for the method's side effect)
    assert _Recording.seen == [(second, second_request), (first, first_request)]


def test_the_form_class_is_built_once_and_each_form_reads_the_database_as_it_is_now():
    Environment.objects.create(slug="staging", name="Staging")
    first = ComponentFilterSet(QueryDict("environment=staging"), Component.objects.all())
    assert first.is_valid()
    Environment.objects.create(slug="later", name="Later")  # after the form class was built

    second = ComponentFilterSet(QueryDict("environment=later"), Component.objects.all())
    assert second.is_valid(), second.errors
    assert type(first.form) is type(second.form)
    assert first.form.fields["environment"] is not second.form.fields["environment"]

    refused = ComponentFilterSet(QueryDict("environment=nowhere"), Component.objects.all())
    assert not refused.is_valid()
    assert list(refused.errors) == ["environment"]


def _allowed_environment(request):
    return Environment.objects.filter(slug=request.GET["allow"])


class _PerRequest(FilterSet):
    """A choice filter whose choices depend on the request: its form cannot be shared."""

    environment = django_filters.ModelChoiceFilter(queryset=_allowed_environment, to_field_name="slug")

    class Meta:
        model = Component
        fields = ["environment"]


def test_a_form_whose_choices_depend_on_the_request_is_built_for_each_request():
    for slug in ("north", "south"):
        Environment.objects.create(slug=slug, name=slug.title())
    for allowed, asked, valid in (("north", "north", True), ("south", "north", False), ("south", "south", True)):
        request = RequestFactory().get("/", {"allow": allowed})
        filterset = _PerRequest(QueryDict(f"environment={asked}"), Component.objects.all(), request=request)
        assert filterset.is_valid() is valid, (allowed, asked)


def test_a_view_with_filterset_fields_builds_its_filter_set_class_once_and_it_still_filters():
    component = ImmutableComponentFactory()
    view = HealthChangeViewSet(request=Request(RequestFactory().get("/")), action="list", format_kwarg=None)
    queryset = view.get_queryset()
    built = FilterBackend().get_filterset_class(view, queryset)
    assert FilterBackend().get_filterset_class(view, queryset) is built
    assert set(built.base_filters) == {"component", "instance", "to_state"}

    kept = built(QueryDict(f"component={component.pk}"), queryset, request=view.request)
    assert kept.is_valid() and str(kept.qs.query).count("component_id") >= 1
    refused = built(QueryDict("to_state=sideways"), queryset, request=view.request)
    assert not refused.is_valid() and list(refused.errors) == ["to_state"]
