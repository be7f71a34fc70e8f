"""How the OpenAPI schema describes an ingest token."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class IngestTokenScheme(OpenApiAuthenticationExtension):
    target_class = "estate.telemetry.auth.IngestTokenAuthentication"
    name = "ingestToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An ingest token (est_...): writes telemetry and nothing else.",
        }
