"""Issue 14: the API as its schema states it. JSON bodies only (but for files and the intake), bulk bodies
documented, operations grouped by app, and page/page_size/ordering either within their declared bounds
or refused with a 400 that names them, on every paginated list the schema lists."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.conf import settings
from drf_spectacular.generators import SchemaGenerator

from estate.core.schema import TAGS
from estate.inventory.models import Component
from tests.factories import EnvironmentFactory, ImmutableComponentFactory

pytestmark = pytest.mark.django_db

SCHEMA = SchemaGenerator().get_schema(request=None, public=True)
OPERATIONS = [
    (method, path, operation)
    for path, item in SCHEMA["paths"].items()
    for method, operation in item.items()
    if method in {"get", "post", "put", "patch", "delete"}
]
# Files and foreign wire formats, each with its own parsers: the only bodies that are not JSON alone.
OTHER_BODIES = {
    ("post", "/api/v1/catalog/plan/"): {"application/json", "application/yaml", "text/csv", "multipart/form-data"},
    ("post", "/api/v1/catalog/apply/"): {"application/json", "application/yaml", "text/csv", "multipart/form-data"},
    ("post", "/api/v1/change-freezes/import/"): {"multipart/form-data"},
    ("post", "/v1/metrics"): {"application/json", "application/x-protobuf"},
    ("post", "/v1/logs"): {"application/json", "application/x-protobuf"},
    ("post", "/api/v1/telemetry/prometheus/write"): {"application/x-protobuf"},
}


def _parameters(operation: dict) -> dict[str, dict]:
    return {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}


PAGINATED = [path for method, path, op in OPERATIONS if method == "get" and "page_size" in _parameters(op)]
ORDERED = {
    path: _parameters(op)["ordering"]["schema"]["items"]["enum"]
    for method, path, op in OPERATIONS
    if method == "get" and "ordering" in _parameters(op)
}


def test_request_bodies_are_json_only_but_for_files_and_the_intake():
    for method, path, operation in OPERATIONS:
        media_types = set(operation.get("requestBody", {}).get("content", {}))
        if media_types:
            assert media_types == OTHER_BODIES.get((method, path), {"application/json"}), (method, path)


def test_a_form_body_is_refused_with_415_naming_its_media_type(api):
    EnvironmentFactory(slug="production")
    body = "name=a&slug=a&environment=production&category=service"
    response = api.post("/api/v1/teams/", body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert "application/x-www-form-urlencoded" in response.json()["detail"]


def test_the_bulk_list_post_documents_one_object_or_a_list_of_them():
    operation = SCHEMA["paths"]["/api/v1/components/"]["post"]
    ref = {"$ref": "#/components/schemas/ComponentRequest"}
    many = {"type": "array", "items": ref, "minItems": 1, "maxItems": settings.API_BULK_LIMIT}
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {"oneOf": [ref, many]}
    created = operation["responses"]["201"]["content"]["application/json"]["schema"]["oneOf"]
    assert created[0] == {"$ref": "#/components/schemas/Component"} and created[1]["type"] == "array"
    assert "413" in operation["responses"] and "list of objects" in operation["description"]
    # A single object's update is one object only.
    put = SCHEMA["paths"]["/api/v1/components/{id}/"]["put"]
    assert put["requestBody"]["content"]["application/json"]["schema"] == ref


def test_a_bulk_create_answers_in_the_order_sent(api):
    EnvironmentFactory(slug="production")
    items = [
        {"name": s, "slug": s, "environment": "production", "category": "service", "provider": "sandbox"}
        for s in ("zz", "aa", "mm")
    ]
    response = api.post("/api/v1/components/", items, format="json")
    assert response.status_code == 201, response.content
    assert [row["slug"] for row in response.json()] == ["zz", "aa", "mm"]


def test_an_empty_bulk_is_a_400_and_creates_nothing(api):
    response = api.post("/api/v1/components/", [], format="json")
    assert response.status_code == 400
    assert not Component.objects.exists()


def test_every_operation_is_tagged_with_the_app_that_serves_it():
    for method, path, operation in OPERATIONS:
        assert len(operation["tags"]) == 1 and apps.is_installed(f"estate.{operation['tags'][0]}"), (method, path)
    used = {op["tags"][0] for _method, _path, op in OPERATIONS}
    assert {tag["name"] for tag in SCHEMA["tags"]} == used
    described = [tag["name"] for tag in SCHEMA["tags"] if tag.get("description")]
    assert described == [name for name in TAGS if name in used]  # in the order a reader meets them
    tags = {path: op["tags"][0] for method, path, op in OPERATIONS}
    assert tags["/api/v1/components/"] == "inventory" and tags["/v1/metrics"] == "telemetry"
    assert tags["/api/v1/patch-windows/"] == "patching" and tags["/api/v1/findings/"] == "dashboard"


def test_page_bounds_and_ordering_fields_are_declared():
    assert len(PAGINATED) >= 20 and len(ORDERED) >= 4
    for method, path, operation in OPERATIONS:
        parameters = _parameters(operation)
        if "page_size" in parameters:
            assert method == "get", (method, path)  # only lists are paginated
            size = parameters["page_size"]["schema"]
            assert (size["minimum"], size["maximum"]) == (1, 1000), path
            assert parameters["page"]["schema"]["minimum"] == 1, path
        if "ordering" in parameters:
            items = parameters["ordering"]["schema"]["items"]
            assert items["enum"] and len(items["x-enum-varnames"]) == len(items["enum"]), path


@pytest.mark.parametrize("path", PAGINATED)
def test_junk_page_and_page_size_are_400s_naming_them_and_the_bounds_are_served(api, path):
    junk_values = [("page_size", "-1"), ("page_size", "0"), ("page_size", "1001"), ("page_size", "ten"),
                   ("page_size", ""), ("page", "0"), ("page", "-2"), ("page", "last"), ("page", "1.5")]  # fmt: skip
    for name, junk in junk_values:
        response = api.get(path, {name: junk})
        assert response.status_code == 400, (path, name, junk, response.content)
        assert name in response.json()["errors"], (path, name, junk)
    for size in ("1", "1000"):
        response = api.get(path, {"page_size": size, "page": "1"})
        assert response.status_code == 200, (path, size, response.content)
        assert {"count", "results"} <= set(response.json())


@pytest.mark.parametrize("path", sorted(ORDERED))
def test_every_declared_ordering_is_served_and_an_unknown_one_is_a_400_naming_it(api, path):
    fields = ORDERED[path]
    assert api.get(path, {"ordering": ",".join(fields)}).status_code == 200, path
    assert api.get(f"{path}?{'&'.join(f'ordering={f}' for f in fields)}").status_code == 200, path
    for junk in ("nonexistent", f"{fields[0]},nonexistent", "pk", "-"):
        response = api.get(path, {"ordering": junk})
        assert response.status_code == 400, (path, junk, response.content)
        assert "ordering" in response.json()["errors"], (path, junk)


def test_repeated_orderings_sort_like_a_comma_separated_list(api):
    env = EnvironmentFactory(slug="production")
    for slug, category in [("b", "service"), ("a", "worker"), ("c", "service")]:
        ImmutableComponentFactory(name=slug, environment=env, category=category)
    comma = api.get("/api/v1/components/?ordering=-category,name").json()["results"]
    repeated = api.get("/api/v1/components/?ordering=-category&ordering=name").json()["results"]
    assert [c["slug"] for c in comma] == [c["slug"] for c in repeated] == ["a", "b", "c"]
