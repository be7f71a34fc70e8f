"""A database that is restarting or unreachable answers 503 with Retry-After, not a 500 with a traceback."""

from __future__ import annotations

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string

from estate.core.api import DATABASE_RETRY_AFTER, DatabaseUnavailable


class DatabaseUnavailableMiddleware:
    """Pages and plain views; the REST API's own exception handler answers for DRF views."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        if request.path.startswith("/api/"):
            response = JsonResponse({"detail": str(DatabaseUnavailable.default_detail), "errors": {}}, status=503)
        else:
            # Rendered without the request: the context processors would ask the database for the user.
            response = HttpResponse(render_to_string("503.html"), status=503)
        response["Retry-After"] = str(DATABASE_RETRY_AFTER)
        return response
