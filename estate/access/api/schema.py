"""How the OpenAPI schema describes a personal API token."""

from drf_spectacular.authentication import SessionScheme as DrfSessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "estate.access.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token (estp_...), acting as its owner within its scope: "
            "read, write, ingest (telemetry only) or feed (calendar feed only).",
        }


class SessionScheme(DrfSessionScheme):
    """DRF's session cookie, refusing accounts with no role: documented as the session it is."""

    target_class = "estate.access.authentication.SessionAuthentication"
