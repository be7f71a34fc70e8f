"""Runbooks' finding kind: members of one cluster on different engine versions (a patch left half-done)."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet

from estate.core.choices import Severity
from estate.core.findings import FindingKind, register
from estate.inventory.models import Component


def _version_skew() -> QuerySet:
    """Cluster members whose engine version differs from another member's (both known): one query."""
    other = (
        Component.objects.filter(cluster_id=OuterRef("cluster_id"))
        .exclude(pk=OuterRef("pk"))
        .exclude(engine_version="")
        .exclude(engine_version=OuterRef("engine_version"))
    )
    return (
        Component.objects.filter(cluster__isnull=False)
        .exclude(engine_version="")
        .filter(Exists(other))
        .select_related("cluster", "environment")
    )


def _describe(component: Component) -> str:
    return (
        f"{component.name} runs {component.engine_version}; other members of cluster {component.cluster} run "
        "another version."
    )


VERSION_SKEW = FindingKind(
    slug="cluster-version-skew",
    title="Cluster members on different engine versions",
    severity=Severity.WARNING,
    principle=5,
    advice="Finish the patch: run the cluster's runbook in its next window so every member runs one version.",
    violators=_version_skew,
    describe=_describe,
)


def register_all() -> None:
    register(VERSION_SKEW)
