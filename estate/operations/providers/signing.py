"""HMAC-SHA256 signatures for the webhook provider (the same scheme both ways), and the secrets
providers sign or authenticate with: environment variables, each bound to the scopes that may use it.

A provider config names its secret by variable (secret_env); the variable must be bound, in
PROVIDER_SECRET_SCOPES, to its component's team or system, or declared estate-wide ("*"):

    PROVIDER_SECRET_SCOPES="ESTATE_WEB_K8S_TOKEN=team:web,
        ESTATE_PAY_HOOK=team:payments system:checkout,ESTATE_SHARED_HOOK=*"   (one line)

so an admin limited to one team cannot point a config of theirs at another team's token. The
binding is checked when the config is saved and again whenever the secret is read (secret_from_env),
so a row written around the model's validation still cannot read another scope's secret.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

HEADER = "X-Estate-Signature"
SETTING = "PROVIDER_SECRET_SCOPES"
VARIABLE = re.compile(r"^ESTATE_[A-Z0-9_]+$")
SCOPE = re.compile(r"^(\*|(team|system):[-a-zA-Z0-9_]+)$")


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    return bool(secret) and hmac.compare_digest(sign(secret, body), signature or "")


# --- secrets bound to scopes ---------------------------------------------------------------


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


def component_scopes(component) -> set[str]:
    """The scopes a component is in: its team's and its system's ("team:web", "system:checkout")."""
    scopes = set()
    if component.team_id:
        scopes.add(f"team:{component.team.slug}")
    if component.system_id:
        scopes.add(f"system:{component.system.slug}")
    return scopes


def secret_refusal(name: str, component) -> str | None:
    """Why `component`'s provider config may not use the secret variable `name`, or None when it may."""
    if not VARIABLE.match(name or ""):
        return "A variable named ESTATE_..., e.g. ESTATE_WEBHOOK_SECRET."
    bound = secret_scopes().get(name)
    if bound is None:
        return (
            f"{name} is not bound to any team or system; bind it in {SETTING} "
            f"(e.g. {name}=team:<slug>, or {name}=* for every component)."
        )
    mine = component_scopes(component) if component is not None else set()
    if "*" in bound or bound & mine:
        return None
    where = ", ".join(sorted(mine)) or "no team and no system"
    return f"{name} is bound to {' '.join(sorted(bound))}, not to this component's scope ({where}); see {SETTING}."


def secret_from_env(config) -> str:
    """The secret named by the provider config, when its component may use it; never stored in the
    database nor shown back. Checked here too: a row written around the model's validation (or a
    binding removed since) still cannot read another scope's secret."""
    name = getattr(config, "secret_env", "") if config else ""
    if not name or secret_refusal(name, config.component):
        return ""
    return os.environ.get(name, "")


def provider_secret(config, *, required: bool) -> str:
    """The secret a provider sends; ProviderError says why there is none when one is named or required."""
    from estate.operations.providers.base import ProviderError

    name = getattr(config, "secret_env", "") if config else ""
    refusal = secret_refusal(name, config.component) if name else None
    if refusal:
        raise ProviderError(f"secret_env: {refusal}")
    secret = secret_from_env(config)
    if required and not secret:
        raise ProviderError(f"secret_env: the provider needs a secret and {name or 'no variable'} holds none.")
    return secret
