from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from estate.core.findings import estate_finding_counts, finding_list
from estate.core.paging import paginate
from estate.dashboard.forms import FindingQuery
from estate.dashboard.selectors import dashboard_data


@login_required
def dashboard(request):
    return render(
        request,
        "dashboard/dashboard.html",
        {**dashboard_data(), "crumbs": [("Dashboard", None)]},
    )


class _CountedFindings:
    """A sequence the paginator can slice; each slice asks the registry for that page only."""

    def __init__(self, filters: dict):
        self.filters = filters
        self.counts = estate_finding_counts(**filters)
        self.total = sum(self.counts.values())

    def count(self) -> int:
        return self.total

    def __len__(self) -> int:
        return self.total

    def __getitem__(self, window: slice) -> list:
        _, page = finding_list(
            **self.filters, offset=window.start, limit=window.stop - window.start, counts=self.counts
        )
        return page


@login_required
def finding_list_view(request):
    query = FindingQuery(request.GET or None)
    filters = query.registry_filters() if query.is_valid() else {}
    page = paginate(request, _CountedFindings(filters))
    return render(
        request,
        "dashboard/finding_list.html",
        {"query": query, "page": page, "crumbs": [("Findings", None)]},
    )
