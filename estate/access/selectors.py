from __future__ import annotations

from django.db.models import QuerySet

from estate.access.models import ApiToken

# Managing other people's tokens is part of the admin role (users and tokens).
MANAGE_TOKENS = "access.change_apitoken"


def tokens_visible_to(user) -> QuerySet[ApiToken]:
    tokens = ApiToken.objects.select_related("user").order_by("-created_at", "-pk")
    if user is None:
        return tokens.none()
    return tokens if user.has_perm(MANAGE_TOKENS) else tokens.filter(user=user)
