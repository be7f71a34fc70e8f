"""Secrets Estate sends (webhook signing keys, bearer tokens): environment variables, each bound to
the scopes that may use it, so a person limited to one team cannot point a config at another's.

Never stored in the database nor shown back: a config names its variable, bound in
PROVIDER_SECRET_SCOPES to teams, systems or the whole estate ("*"):

    PROVIDER_SECRET_SCOPES="ESTATE_WEB_K8S_TOKEN=team:web,
        ESTATE_PAY_HOOK=team:payments system:checkout,ESTATE_SHARED_HOOK=*"   (one line)
"""

from __future__ import annotations

import os
import re

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SETTING = "PROVIDER_SECRET_SCOPES"
VARIABLE = re.compile(r"^ESTATE_[A-Z0-9_]+$")
SCOPE = re.compile(r"^(\*|(team|system):[-a-zA-Z0-9_]+)$")


def _parse_entry(entry: str) -> tuple[str, frozenset[str]]:
    name, _, scopes = entry.partition("=")
    name, bound = name.strip(), frozenset(scopes.split())
    if not VARIABLE.match(name) or not bound or not all(SCOPE.match(s) for s in bound):
        raise ImproperlyConfigured(
            f"{SETTING}: {entry.strip()!r} is not ESTATE_NAME=team:<slug> system:<slug> ... or ESTATE_NAME=*"
        )
    return name, bound


def secret_scopes() -> dict[str, frozenset[str]]:
    """{variable: {"team:web", "system:checkout", or "*"}} from PROVIDER_SECRET_SCOPES."""
    value = getattr(settings, SETTING, "") or ""
    return dict(_parse_entry(entry) for entry in value.split(",") if entry.strip())


def secret_refusal(name: str, scopes: set[str]) -> str | None:
    """Why a config in `scopes` ({"team:web", ...}; empty for estate-wide) may not use variable `name`."""
    if not VARIABLE.match(name or ""):
        return "A variable named ESTATE_..., e.g. ESTATE_WEBHOOK_SECRET."
    bound = secret_scopes().get(name)
    if bound is None:
        return (
            f"{name} is not bound to any team or system; bind it in {SETTING} "
            f"(e.g. {name}=team:<slug>, or {name}=* for every component)."
        )
    if "*" in bound or bound & scopes:
        return None
    where = ", ".join(sorted(scopes)) or "no team and no system"
    return f"{name} is bound to {' '.join(sorted(bound))}, not to this scope ({where}); see {SETTING}."


def secret_value(name: str, scopes: set[str]) -> str:
    """The variable's value when `scopes` may use it, else "" (checked at every read, not only at save)."""
    if not name or secret_refusal(name, scopes):
        return ""
    return os.environ.get(name, "")
