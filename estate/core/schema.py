"""What the OpenAPI schema says beyond what drf-spectacular infers, in one place.

- Every operation's 4xx answers, in the one error shape (estate.core.api.exception_handler's
  {"detail", "errors"}), so a client and a schema-driven test (tests/core/test_api_schemathesis.py)
  know them too.
- Operations are grouped by the app that serves them (the tag), so a generated client has one module
  per app (tests/api/test_generated_client.py).
- A list POST that also takes a list of objects (estate.core.viewsets.BulkCreateMixin) says so: its
  body and its 201 are one object or a list of them.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema

# The tags, in the order a reader meets them; an app's tag is its label (estate.<label>...).
TAGS = {
    "inventory": "Components, instances, images, systems, clusters, teams, environments and tags.",
    "telemetry": "Heartbeats, samples and events in (JSON, OTLP, remote_write); health rules and changes.",
    "patching": "Patch windows, occurrences, change freezes and the change calendar.",
    "operations": "Rebuilds, rolls and replacements; providers and remediation policies.",
    "catalog": "The estate as code: export, plan and apply.",
    "dashboard": "Findings: where the estate breaks its principles.",
    "notifications": "Where failures and window starts are sent.",
    "outbox": "Side effects waiting to be sent, sent, or given up.",
    "access": "API tokens and calendar-feed tokens.",
    "audit": "Who changed what, and when.",
}
BULK_TOO_LARGE = "The request body is too large, or holds more items than one request may create."


def _app_label(view) -> str | None:
    parts = type(view).__module__.split(".")
    return parts[1] if parts[0] == "estate" and len(parts) > 1 else None


def _one_or_many(schema: dict) -> dict:
    many = {"type": "array", "items": schema, "minItems": 1, "maxItems": settings.API_BULK_LIMIT}
    return {"oneOf": [schema, many]}


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's inspector, with the app as tag and bulk bodies documented."""

    def get_tags(self) -> list[str]:
        label = _app_label(self.view)
        return [label] if label else super().get_tags()

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation and self._is_bulk_create():
            _document_bulk(operation)
        for parameter in (operation or {}).get("parameters", []):
            _name_orderings(parameter)
        return operation

    def _is_bulk_create(self) -> bool:
        return self.method == "POST" and getattr(self.view, "bulk_create", False) and self.view.action == "create"


def _name_orderings(parameter: dict) -> None:
    """An ordering's values get names a generated client can use: NAME and NAME_DESC, not VALUE_5."""
    items = parameter["schema"].get("items", {})
    if parameter["name"] == "ordering" and "enum" in items:
        names = [f"{value.lstrip('-')}{'_desc' if value.startswith('-') else ''}".upper() for value in items["enum"]]
        items["x-enum-varnames"] = names


def _document_bulk(operation: dict) -> None:
    for media in operation.get("requestBody", {}).get("content", {}).values():
        media["schema"] = _one_or_many(media["schema"])
    for media in operation["responses"].get("201", {}).get("content", {}).values():
        media["schema"] = _one_or_many(media["schema"])
    operation["responses"].setdefault("413", {"description": BULK_TOO_LARGE})
    bulk = (
        f"Send a list of objects instead of one (at most {settings.API_BULK_LIMIT}) to create them all or none: "
        "the answer is the list created, in the order sent; errors are keyed by the item's index."
    )
    operation["description"] = f"{operation.get('description', '')}\n\n{bulk}".strip()


ERROR_SCHEMA = {
    "type": "object",
    "description": "Every API error: a sentence, and the messages per field (list indexes for bulk requests).",
    "properties": {
        "detail": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": True},
    },
    "required": ["detail", "errors"],
}

WRITES = {"post", "put", "patch", "delete"}
DESCRIPTIONS = {
    "400": "Invalid parameters or body; `errors` names the fields.",
    "401": "No valid credentials.",
    "403": "The credentials may not do this.",
    "404": "No such object, or no such page.",
    "409": "Conflicts with the object's state, or other records still use it.",
    "413": "The request body is too large.",
    "415": "The body's media type is not one this operation reads, or it is malformed.",
    "429": "Too many requests; retry later.",
}


def _error_codes(method: str, operation: dict) -> list[str]:
    params = operation.get("parameters", [])
    codes = ["401", "403", "429"]
    if method in WRITES or operation.get("requestBody") or any(p["in"] == "query" for p in params):
        codes.append("400")
    if any(p["in"] == "path" or p["name"] == "page" for p in params):
        codes.append("404")
    if method in WRITES:
        codes += ["409", "413"]
    if operation.get("requestBody"):
        codes.append("415")
    return codes


def document_tags(result, generator, request, public):
    """POSTPROCESSING_HOOKS: a description for each app's tag that the schema uses, in TAGS' order."""
    used = {tag for item in result.get("paths", {}).values() for op in item.values() for tag in op.get("tags", [])}
    known = [{"name": name, "description": text} for name, text in TAGS.items() if name in used]
    result["tags"] = known + [{"name": name} for name in sorted(used - set(TAGS))]
    return result


def document_errors(result, generator, request, public):
    """POSTPROCESSING_HOOKS: add the error responses each operation can give, unless it says its own."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            responses = operation.setdefault("responses", {})
            for code in _error_codes(method, operation):
                response = responses.setdefault(code, {"description": DESCRIPTIONS[code]})
                response.setdefault("content", {"application/json": {"schema": ref}})
    return result
