from __future__ import annotations

from django.core.paginator import Page, Paginator

PAGE_SIZES = (25, 50, 100)


def paginate(request, items, *, default_size: int = 25, page_param: str = "page") -> Page:
    """One page of items; bad page numbers land on the nearest real page, as users expect."""
    size = request.GET.get("per_page", "")
    per_page = int(size) if size.isdigit() and int(size) in PAGE_SIZES else default_size
    return Paginator(items, per_page).get_page(request.GET.get(page_param))
