"""The request being served, for code far from the view that must know who acts (scope checks, audit).

Services take their data as arguments; who is acting is read here so every write path - UI form,
API, bulk endpoint - is judged by the same rule without threading a user through each call.
Celery tasks and management commands run outside any request: `current_user()` is then None.
"""

from __future__ import annotations

from contextvars import ContextVar

_request: ContextVar = ContextVar("estate_request", default=None)


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


def current_request():
    return _request.get()


def current_user():
    """The authenticated user of the current request (DRF's token user too), else None."""
    request = _request.get()
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None
