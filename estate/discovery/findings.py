"""Discovery's finding kind: an EC2 instance that no Auto Scaling group would replace."""

from __future__ import annotations

from django.db.models import QuerySet

from estate.core.choices import Severity
from estate.core.findings import FindingKind, register
from estate.discovery.choices import ObjectKind
from estate.inventory.models import Component


def _loose_instances() -> QuerySet:
    return Component.objects.filter(discovery__kind=ObjectKind.EC2, discovery__gone_since__isnull=True).select_related(
        "environment", "discovery"
    )


KINDS = [
    FindingKind(
        slug="loose-ec2-instance",
        title="EC2 instance outside any Auto Scaling group",
        severity=Severity.WARNING,
        principle=1,
        advice="Nothing can replace it: put it behind an Auto Scaling group with a launch template, "
        "or make it a bastion if it holds state.",
        violators=_loose_instances,
        describe=lambda c: f"{c.name} ({c.discovery.region}) runs alone: nothing can replace it.",
    ),
]


def register_all() -> None:
    for kind in KINDS:
        register(kind)
