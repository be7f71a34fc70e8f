from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet

PAGE_SIZES = (25, 50, 100)


def paginate(request, items, *, default_size: int = 25, page_param: str = "page") -> Page:
    """One page of items; bad page numbers land on the nearest real page, as users expect."""
    size = request.GET.get("per_page", "")
    per_page = int(size) if size.isdigit() and int(size) in PAGE_SIZES else default_size
    return Paginator(items, per_page).get_page(request.GET.get(page_param))


class KeysFirst:
    """A queryset that the paginator slices in two steps: the page's keys, then the page's rows.

    Sorting by an annotation (an instance count) computes it for every row of the table. Asking
    for the keys alone keeps the joins, the other annotations and the prefetches to the rows of
    one page (a "deferred join"), however large the table.
    """

    def __init__(self, queryset: QuerySet):
        self.queryset = queryset

    @property
    def ordered(self) -> bool:
        return self.queryset.ordered

    def count(self) -> int:
        return self.queryset.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, window: slice) -> list:
        keys = list(self.queryset.values_list("pk", flat=True)[window])
        rows = self.queryset.order_by().in_bulk(keys)
        return [rows[key] for key in keys]
