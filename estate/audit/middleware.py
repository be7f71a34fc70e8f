"""Every refusal (403) of a known person or token leaves an ACCESS_DENIED event: who, what, why.

Pages, the API and the role check all answer a refusal with a 403, so the record is taken once,
here, from the finished response: one INSERT per refusal, nothing for any other answer. Anonymous
requests (the API's 401s, the log-in redirects) are not recorded: there is nobody to name.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.db import DatabaseError

from estate.audit.context import Actor, actor_of
from estate.audit.services import access_denied_record

logger = logging.getLogger(__name__)

# Set on the Django request by code that refuses before the view knows who asks: the reason, and
# for a token refused while authenticating, the token (its owner is the one refused).
DENIED_REASON = "estate_denied_reason"
DENIED_TOKEN = "estate_denied_token"  # noqa: S105 - an attribute name, not a secret


def denied_actor(request) -> Actor | None:
    token = getattr(request, DENIED_TOKEN, None)
    if token is not None:
        actor = actor_of(request, token.user)
        return Actor(actor.id, actor.name, actor.ip, f"token:{token.name}"[:120])
    user = getattr(request, "user", None)
    return actor_of(request, user) if user is not None and user.is_authenticated else None


def denied_reason(request, response) -> str:
    data = getattr(response, "data", None)  # a DRF response says why in its body
    if isinstance(data, dict) and data.get("detail"):
        return str(data["detail"])
    return getattr(request, DENIED_REASON, "") or "Forbidden."


def record_refused_response(request, response) -> None:
    actor = denied_actor(request)
    if actor is None:
        return
    access_denied_record(request=request, reason=denied_reason(request, response), actor=actor)


class AccessDeniedAuditMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 403:
            try:
                record_refused_response(request, response)
            except DatabaseError:  # the refusal stands; a database that is down must not turn it into a 500
                logger.warning("Could not record a refused request to %s", request.path, exc_info=True)
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, PermissionDenied) and not hasattr(request, DENIED_REASON):
            setattr(request, DENIED_REASON, str(exception))
