from __future__ import annotations

import django_filters


class StableOrderingFilter(django_filters.OrderingFilter):
    """Sorts as asked, then by primary key, so rows with equal keys never repeat or vanish across pages."""

    def filter(self, qs, value):
        qs = super().filter(qs, value)
        return qs.order_by(*(qs.query.order_by or qs.model._meta.ordering), "pk")
