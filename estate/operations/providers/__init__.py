"""Providers: the adapters an operation drives (see DESIGN.md, "Providers")."""

from __future__ import annotations

from estate.operations.providers.aws import AwsProvider
from estate.operations.providers.base import OperationProvider, ProviderError
from estate.operations.providers.kubernetes import KubernetesProvider
from estate.operations.providers.sandbox import SandboxProvider
from estate.operations.providers.webhook import WebhookProvider

_PROVIDERS: dict[str, type[OperationProvider]] = {
    "webhook": WebhookProvider,
    "aws": AwsProvider,
    "kubernetes": KubernetesProvider,
}


def provider_config(component):
    from estate.operations.models import ProviderConfig

    return ProviderConfig.objects.filter(component_id=component.pk).first()


def is_simulated(component) -> bool:
    config = provider_config(component)
    return component.provider == "sandbox" or bool(config and config.simulated)


def provider_for(component) -> OperationProvider:
    """The provider the component names (the sandbox when its config says simulated)."""
    config = provider_config(component)
    if component.provider == "sandbox" or (config and config.simulated):
        return SandboxProvider()
    try:
        provider_class = _PROVIDERS[component.provider]
    except KeyError:
        raise ProviderError(f"The {component.get_provider_display()} provider is not available yet.") from None
    return provider_class(config=config)


def can_drive(component) -> bool:
    return is_simulated(component) or component.provider in _PROVIDERS


def supports(component, kind: str) -> bool:
    if is_simulated(component):
        return True
    provider_class = _PROVIDERS.get(component.provider)
    return provider_class is not None and kind in getattr(provider_class, "kinds", (kind,))


def rolls_itself(component) -> bool:
    """Whether the provider replaces instances itself (Kubernetes): its own desired count rules, not Estate's."""
    if is_simulated(component):
        return False
    return bool(getattr(_PROVIDERS.get(component.provider), "rolls_itself", False))


__all__ = [
    "OperationProvider",
    "ProviderError",
    "can_drive",
    "supports",
    "is_simulated",
    "provider_for",
    "rolls_itself",
]
