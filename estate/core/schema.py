"""What the OpenAPI schema says about errors: every operation's 4xx answers, in the one error shape.

drf-spectacular documents the success responses it can infer; the errors every view can give
(estate.core.api.exception_handler's {"detail", "errors"}) are added here, so a client and a
schema-driven test (tests/core/test_api_schemathesis.py) know them too.
"""

from __future__ import annotations

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
