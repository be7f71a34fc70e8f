from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django.core.exceptions import ValidationError
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
