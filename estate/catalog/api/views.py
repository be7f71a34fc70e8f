from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from estate.catalog import rules, services
from estate.catalog.api.parsers import CsvParser, RawCatalogParser, TextYamlParser, XYamlParser
from estate.catalog.errors import CatalogError, Problem
from estate.catalog.export import export_csv, export_yaml
from estate.catalog.models import CatalogApply
from estate.catalog.spec import Catalog, parse, schema
from estate.core.errors import ApplicationError
from estate.core.parsers import JSONParser

REPLAYED = "Idempotent-Replayed"


class CatalogApplySerializer(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = CatalogApply
        fields = ["id", "created_at", "user", "source", "digest", "prune", "summary"]


class CanPlan(permissions.BasePermission):
    message = rules.PLAN_REFUSED

    def has_permission(self, request, view) -> bool:
        return rules.may_plan(request.user)


class CanApply(permissions.BasePermission):
    message = rules.APPLY_REFUSED

    def has_permission(self, request, view) -> bool:
        return rules.may_apply(request.user)


CATALOG_BODY = {
    "application/yaml": OpenApiTypes.STR,
    "text/csv": OpenApiTypes.STR,
    "multipart/form-data": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}},
    "application/json": {"type": "object", "properties": {"catalog": {"type": "string"}, "name": {"type": "string"}}},
}
PRUNE = OpenApiParameter("prune", bool, description="Delete what the catalog's sections no longer list.")
NAME = OpenApiParameter("name", str, description="The file name errors are reported against (catalog.yaml).")


class CatalogViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Catalog as code: the inventory described by YAML (or CSV) files, planned then applied.
    The list is the catalogs applied, newest first."""

    queryset = CatalogApply.objects.select_related("user")
    serializer_class = CatalogApplySerializer
    permission_classes = [CanPlan]

    parser_classes = [RawCatalogParser, TextYamlParser, XYamlParser, CsvParser, JSONParser, MultiPartParser, FormParser]

    def perform_content_negotiation(self, request, force=False):
        # ?format= names the export's file format here (yaml|csv), not a renderer: answers are JSON.
        renderer = self.get_renderers()[0]
        return renderer, renderer.media_type

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, auth=[])
    @action(
        detail=False,
        methods=["get"],
        url_path="schema",
        url_name="schema",
        permission_classes=[permissions.AllowAny],
        authentication_classes=[],
    )
    def json_schema(self, request):
        """The JSON Schema of one catalog document (estate/v1), for editors to validate against."""
        return Response(schema())

    @extend_schema(
        request=CATALOG_BODY,
        parameters=[PRUNE, NAME],
        responses={200: OpenApiTypes.OBJECT, 413: OpenApiResponse(description="Too large")},
    )
    @action(detail=False, methods=["post"], permission_classes=[CanPlan])
    def plan(self, request):
        """What applying the catalog would do: per object create, update (before → after), unchanged, prune."""
        plan = services.catalog_plan(catalog=_catalog(request), prune=_prune(request))
        return Response(plan.as_dict() | {"applied": False})

    @extend_schema(
        request=CATALOG_BODY,
        parameters=[PRUNE, NAME, OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
        responses={
            200: OpenApiTypes.OBJECT,
            409: OpenApiResponse(description="In use"),
            413: OpenApiResponse(description="Too large"),
        },
    )
    @action(detail=False, methods=["post"], permission_classes=[CanApply])
    def apply(self, request):
        """Apply the catalog, all or nothing. A retry with the same Idempotency-Key applies nothing twice."""
        catalog, prune, key = _catalog(request), _prune(request), _idempotency_key(request)
        if key is None:
            plan = services.catalog_apply(catalog=catalog, prune=prune, user=request.user)
            return Response(plan.as_dict() | {"applied": True})
        answer, replayed = services.catalog_apply_once(catalog=catalog, prune=prune, user=request.user, key=key)
        return Response(answer, headers={REPLAYED: "true"} if replayed else {})

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=["yaml", "csv"]),
            OpenApiParameter("kind", str, enum=["components", "instances"], description="For CSV."),
            OpenApiParameter("instances", bool, description="For YAML: include instances (default true)."),
        ],
        responses={(200, "application/yaml"): OpenApiTypes.OBJECT, (200, "text/csv"): OpenApiTypes.STR},
    )
    @action(detail=False, methods=["get"], permission_classes=[CanPlan])
    def export(self, request):
        """The inventory as a catalog: applying it changes nothing."""
        if request.query_params.get("format", "yaml") == "csv":
            kind = "instances" if request.query_params.get("kind") == "instances" else "components"
            return _download(export_csv(kind), "text/csv", f"{kind}.csv")
        instances = request.query_params.get("instances", "true").lower() not in ("0", "false", "no")
        return _download(export_yaml(instances=instances), "application/yaml", "catalog.yaml")


def _download(text: str, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(text.encode(), content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _prune(request) -> bool:
    value = request.query_params.get("prune") or (request.data.get("prune") if hasattr(request.data, "get") else None)
    return str(value).lower() in ("1", "true", "yes", "on")


def _catalog(request) -> Catalog:
    """The catalog from a raw YAML/CSV body, uploaded files, or {"catalog": "..."}."""
    data = request.data
    name = request.query_params.get("name", "")
    if isinstance(data, dict) and "raw" in data:
        files = [(name or f"catalog.{data['suffix']}", data["raw"])]
    elif request.FILES:
        files = [(upload.name, _read(upload)) for upload in request.FILES.getlist("file")]
    elif hasattr(data, "get") and isinstance(data.get("catalog"), str):
        name = name or data.get("name") or "catalog.yaml"
        files = [(str(name), data["catalog"].encode())]
    else:
        raise ApplicationError(
            'Send the catalog as the body (application/yaml or text/csv), as a file, or as {"catalog": "..."}.',
            errors={"catalog": ["This field is required."]},
        )
    return parse(files, name=name)


def _read(upload) -> bytes:
    if upload.size > settings.CATALOG_MAX_BYTES:
        raise CatalogError(
            [
                Problem(
                    upload.name,
                    0,
                    "",
                    f"The file is {upload.size} bytes; at most {settings.CATALOG_MAX_BYTES} are accepted.",
                )
            ],
            status=413,
        )
    return upload.read()


def _idempotency_key(request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 0 < len(key) <= 200:
        raise ApplicationError(
            "Idempotency-Key must be 1 to 200 characters.", errors={"Idempotency-Key": ["Too long."]}
        )
    return key
