"""Which resource attributes (OTLP) or series labels (remote_write) name a sample's component, environment
and instance: the defaults below, or what the sender's ingest token says (its `mapping`).

A team whose collectors call the service `app` or whose Prometheus jobs are not component slugs maps
them once, on the token its shipper uses, instead of relabelling every pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from estate.telemetry.models import IngestToken

OTLP_DEFAULTS = {
    "component": ("service.name",),
    "environment": ("deployment.environment.name", "deployment.environment"),
    "instance": ("service.instance.id", "host.id", "k8s.pod.name"),
}


def prometheus_defaults() -> dict[str, tuple[str, ...]]:
    return {
        "component": (settings.TELEMETRY_PROMETHEUS_COMPONENT_LABEL,),
        "environment": (settings.TELEMETRY_PROMETHEUS_ENVIRONMENT_LABEL,),
        "instance": (settings.TELEMETRY_PROMETHEUS_INSTANCE_LABEL,),
    }


@dataclass(frozen=True)
class Mapping:
    keys: dict[str, tuple[str, ...]]

    def first(self, values: dict[str, str], what: str) -> str:
        """The value of the first attribute or label named for `what` that is set ("" when none is)."""
        return next((values[k] for k in self.keys[what] if values.get(k)), "")

    def refs(self, values: dict[str, str]) -> tuple[str | None, str | None]:
        """(component "environment/slug", instance external id) from a resource's attributes or a series' labels."""
        name = self.first(values, "component")
        environment = self.first(values, "environment") or settings.TELEMETRY_DEFAULT_ENVIRONMENT
        component = f"{environment}/{name}" if name and environment else None
        return component, self.first(values, "instance") or None


def mapping_for(sender, defaults: dict[str, tuple[str, ...]]) -> Mapping:
    """The defaults, overridden key by key by the ingest token's own mapping (other credentials: defaults)."""
    own = sender.mapping if isinstance(sender, IngestToken) else {}
    return Mapping({what: tuple(own.get(what) or names) for what, names in defaults.items()})
