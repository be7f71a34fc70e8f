from __future__ import annotations

import copy
from datetime import UTC
from weakref import WeakKeyDictionary

import django_filters
import django_filters.rest_framework
from django import forms
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django_filters.fields import IsoDateTimeField
from django_filters.widgets import BaseCSVWidget

from estate.core.fields import BIGINT_MAX


class CommaOrRepeatedWidget(BaseCSVWidget, forms.Select):
    """`ordering=name,-mode` as the schema writes it, and `ordering=name&ordering=-mode` as generated
    clients send a list: both mean the same, instead of the second keeping only its last value."""

    def value_from_datadict(self, data, files, name):
        values = data.getlist(name) if hasattr(data, "getlist") else []
        if len(values) > 1:
            return [part for value in values for part in value.split(",")]
        return super().value_from_datadict(data, files, name)


class IdFilter(django_filters.NumberFilter):
    """An id to filter by: a whole number a 64-bit key can hold (1.5 or -3e147 is a 400 naming the
    parameter, never a 500 from a database that cannot take the number); an unknown id matches nothing."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", BIGINT_MAX)
        super().__init__(*args, **kwargs)


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
    """An ISO 8601 moment (`since`, `until`); one that is malformed or names no such day is a 400 naming it."""

    field_class = _UtcDateTimeField


class StableOrderingFilter(django_filters.OrderingFilter):
    """Sorts as asked, then by primary key, so rows with equal keys never repeat or vanish across pages.

    An unknown field is a 400 naming `ordering`; the schema lists the known ones as its enum."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", CommaOrRepeatedWidget)
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        qs = super().filter(qs, value)
        return qs.order_by(*(qs.query.order_by or qs.model._meta.ordering), "pk")


# --- filter sets at a small cost per request -------------------------------------------------------------

_FORM_CLASSES: WeakKeyDictionary = WeakKeyDictionary()  # filter set class -> its form class


def _copy_for_request(filter_: django_filters.Filter) -> django_filters.Filter:
    """A filter of the class, copied for one filter set: its own `extra` (the form field is built from it),
    no cached field, and its method bound to the copy, whose `parent` is this request's filter set."""
    copied = copy.copy(filter_)
    copied.extra = dict(filter_.extra)
    copied.__dict__.pop("_field", None)
    if filter_.method is not None:
        copied.method = filter_.method  # a FilterMethod of the copy, not of the class's filter
    return copied


class LeanFilterSetMixin:
    """django-filter's FilterSet, built for a request at under half its cost (bench/RESULTS.md).

    django-filter deep-copies every filter of the class for each request, the querysets of choice filters
    included, and builds a new form class with new form fields each time. Here a filter is copied shallowly
    (`_copy_for_request`), and the form class is built once per filter set class, its form fields being
    copied per form as Django copies any form's fields. A filter set whose form depends on the request (a
    choice filter whose queryset is a callable of the request) builds its form class each time, as before.
    A filter set that changes its filters per request (in its own __init__) would need the same: none does.
    """

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        if queryset is None:
            queryset = self._meta.model._default_manager.all()
        self.is_bound = data is not None
        self.data = data or QueryDict()
        self.queryset, self.request, self.form_prefix = queryset, request, prefix
        self.filters = {name: _copy_for_request(filter_) for name, filter_ in self.base_filters.items()}
        for filter_ in self.filters.values():
            filter_.model = queryset.model
            filter_.parent = self

    def get_form_class(self):
        form_class = _FORM_CLASSES.get(type(self))
        if form_class is None:
            form_class = super().get_form_class()
            if not any(callable(getattr(filter_, "queryset", None)) for filter_ in self.filters.values()):
                _FORM_CLASSES[type(self)] = form_class
        return form_class


class FilterSet(LeanFilterSetMixin, django_filters.FilterSet):
    """The project's filter sets (API and pages): django-filter's, lean per request."""


class _AutoFilterSetBase(LeanFilterSetMixin, django_filters.rest_framework.FilterSet):
    """What the API's `filterset_fields` build on: django-filter's REST filter set, lean per request."""


class FilterBackend(django_filters.rest_framework.DjangoFilterBackend):
    """DjangoFilterBackend, with the filter set of a view's `filterset_fields` built once per view class
    rather than a new class (every model field's filter looked up again) for each request."""

    filterset_base = _AutoFilterSetBase
    _auto_classes: dict = {}

    def get_filterset_class(self, view, queryset=None):
        fields = getattr(view, "filterset_fields", None)
        if getattr(view, "filterset_class", None) or not fields or queryset is None:
            return super().get_filterset_class(view, queryset)
        key = (type(view), queryset.model, repr(fields))
        if key not in self._auto_classes:
            self._auto_classes[key] = super().get_filterset_class(view, queryset)
        return self._auto_classes[key]
