"""Every bulk operation of the API is fuzzed: the list below is checked against the OpenAPI schema and the
URL conf, so a new bulk endpoint fails this test until it has a fuzz test of its own."""

from __future__ import annotations

import inspect
import re

from drf_spectacular.generators import SchemaGenerator

from estate.api_urls import router

# (method, path) -> the module that fuzzes it.
FUZZED = {
    ("post", "/api/v1/components/"): "tests.fuzz.test_component_bulk",
    ("post", "/api/v1/telemetry/"): "tests.fuzz.test_telemetry_ingest",
    ("post", "/api/v1/change-freezes/import/"): "tests.fuzz.test_freeze_import",
}
WORDS = re.compile(r"\b(bulk|batch(es)?|many at once|a list instead|list of items|import)\b", re.IGNORECASE)
# A view that takes a list body: serializes request.data with many=True, or branches on a list.
LIST_BODY = re.compile(r"isinstance\(request\.data, list\)|data=request\.data,\s*many=True|_items\(request\.data\)")
METHODS = {"post", "put", "patch"}


def _schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _takes_many_objects(schema: dict, body: dict) -> bool:
    """A request body that is a list of objects, or an object holding one (the {"items": [...]} form)."""
    node = _resolve(schema, body)
    candidates = [node, *(_resolve(schema, p) for p in node.get("properties", {}).values())]
    candidates += [_resolve(schema, one) for one in node.get("oneOf", [])]  # one object or a list of them
    for candidate in candidates:
        if candidate.get("type") == "array":
            items = _resolve(schema, candidate.get("items", {}))
            if items.get("type") == "object" or "properties" in items:
                return True
    return False


def bulk_operations_in_schema() -> set[tuple[str, str]]:
    schema, found = _schema(), set()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            text = " ".join([path, operation.get("operationId", "")])
            if method == "post":  # a viewset's docstring describes its put and patch too
                text += " " + operation.get("summary", "") + " " + operation.get("description", "")
            bodies = [c.get("schema", {}) for c in operation.get("requestBody", {}).get("content", {}).values()]
            if WORDS.search(text) or any(_takes_many_objects(schema, body) for body in bodies):
                found.add((method, path))
    return found


def bulk_operations_in_urlconf() -> set[tuple[str, str]]:
    """Views whose create (or any action) reads a list body, found in their source or by their mixin."""
    found = set()
    for prefix, viewset, _basename in router.registry:
        if LIST_BODY.search(inspect.getsource(viewset)) or getattr(viewset, "bulk_create", False):
            found.add(("post", f"/api/v1/{prefix}/"))
    return found


def test_every_bulk_operation_is_fuzzed():
    bulk = bulk_operations_in_schema() | bulk_operations_in_urlconf()
    missing = bulk - set(FUZZED)
    assert not missing, f"bulk operations without a fuzz test in tests/fuzz/: {sorted(missing)}"


def test_the_detection_finds_the_known_bulk_operations():
    # If these stop being found, the detection above has gone blind, not the API bulk-free.
    assert set(FUZZED) <= bulk_operations_in_schema() | bulk_operations_in_urlconf()
    assert ("post", "/api/v1/telemetry/") in bulk_operations_in_schema()
    assert ("post", "/api/v1/components/") in bulk_operations_in_urlconf()


def test_every_fuzzed_operation_exists():
    paths = _schema()["paths"]
    for method, path in FUZZED:
        assert method in paths.get(path, {}), (method, path)
