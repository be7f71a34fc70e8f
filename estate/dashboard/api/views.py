from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from estate.core.api import Pagination
from estate.core.choices import Severity
from estate.core.findings import estate_finding_counts, finding_kinds, finding_list
from estate.dashboard.api.serializers import FindingKindSerializer, FindingSerializer
from estate.dashboard.forms import FindingQuery


class FindingPagination(Pagination):
    """Paginates the registry's own (total, page) answer instead of a queryset."""

    cursor_paging = False  # the registry's rows have no key to page by

    def paginate_findings(self, request, filters: dict) -> list:
        self.request = request
        self.by_cursor(request)  # a 400 naming pagination when asked for cursor pages
        size = self.get_page_size(request)
        number = self.get_page_number(request)
        counts = estate_finding_counts(**filters)
        total, page = finding_list(**filters, offset=(number - 1) * size, limit=size, counts=counts)
        self.total, self.number, self.size = total, number, size
        return page

    def _link(self, number: int) -> str | None:
        return replace_query_param(self.request.build_absolute_uri(), self.page_query_param, number)

    def findings_response(self, data) -> Response:
        has_next = self.number * self.size < self.total
        return Response(
            {
                "count": self.total,
                "next": self._link(self.number + 1) if has_next else None,
                "previous": self._link(self.number - 1) if self.number > 1 else None,
                "results": data,
            }
        )


class FindingViewSet(viewsets.ViewSet):
    """The estate's violations of the principles, most severe first."""

    serializer_class = FindingSerializer
    pagination_class = FindingPagination  # so the schema describes list's paginated envelope

    def _filters(self, request) -> dict:
        query = FindingQuery(request.query_params)
        if not query.is_valid():
            raise ValidationError(query.errors)
        return query.registry_filters()

    @extend_schema(
        parameters=[
            OpenApiParameter("severity", enum=Severity.values),
            OpenApiParameter("kind", str),
            OpenApiParameter("component", int),
        ]
    )
    def list(self, request):
        paginator = FindingPagination()
        page = paginator.paginate_findings(request, self._filters(request))
        return paginator.findings_response(FindingSerializer(page, many=True).data)

    @extend_schema(responses=FindingKindSerializer(many=True))
    @action(detail=False, pagination_class=None)
    def kinds(self, request):
        """Every finding kind with its current count."""
        counts = estate_finding_counts()
        rows = [{"kind": kind, "count": counts[kind.slug]} for kind in finding_kinds()]
        return Response(FindingKindSerializer(rows, many=True).data)
