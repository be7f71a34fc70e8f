"""Pages need a role: a logged-in person without one gets a 403 that says so, not the estate."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from estate.access import roles
from estate.audit.middleware import DENIED_REASON

# Pages for everyone: logging in and out, probes, the API's description, and the endpoints whose
# credential is in the request itself (a feed's secret address, a provider's signature).
OPEN_PAGES = frozenset(
    {
        "login",
        "logout",
        "healthz",
        "readyz",
        "metrics",
        "schema",
        "swagger-ui",
        "redoc",
        "patch_feed",
        "operation_callback",
    }  # fmt: skip
)


class RoleRequiredMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = request.resolver_match
        if match is None or match.url_name in OPEN_PAGES or "admin" in match.namespaces:
            return  # the admin site checks staff status and permissions itself
        if request.path.startswith("/api/"):
            return  # DRF authenticates there (tokens too): see access.authentication
        if request.user.is_authenticated and not roles.has_role(request.user):
            setattr(request, DENIED_REASON, roles.NO_ROLE)  # raised outside the view: say why for the audit
            raise PermissionDenied(roles.NO_ROLE)
        return
