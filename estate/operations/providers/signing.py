"""The webhook provider's signatures and the secrets providers sign or authenticate with.

Signing (HMAC-SHA256, one scheme both ways) and the binding of secret variables to scopes live in
estate.core (signing, secrets), shared with every other sender. Here a provider config's scope is its
component's team and system: a config may name a variable bound, in PROVIDER_SECRET_SCOPES, to that
team or system, or declared estate-wide ("*"), so an admin limited to one team cannot point a config
of theirs at another team's token. The binding is checked when the config is saved and again
whenever the secret is read (secret_from_env), so a row written around the model's validation (or a
binding removed since) still cannot read another scope's secret.
"""

from __future__ import annotations

from estate.core import secrets
from estate.core.signing import HEADER, sign, verify

__all__ = ["HEADER", "component_scopes", "provider_secret", "secret_from_env", "secret_refusal", "sign", "verify"]


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
    return secrets.secret_refusal(name, component_scopes(component) if component is not None else set())


def secret_from_env(config) -> str:
    """The secret named by the provider config, when its component may use it; never stored in the
    database nor shown back."""
    name = getattr(config, "secret_env", "") if config else ""
    return secrets.secret_value(name, component_scopes(config.component)) if name else ""


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
