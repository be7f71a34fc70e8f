"""Operations' finding kinds: where Estate stopped acting on its own and a person must look."""

from __future__ import annotations

from django.db.models import QuerySet

from estate.core.choices import Severity
from estate.core.findings import FindingKind, register
from estate.inventory.models import Component


def _breaker_open() -> QuerySet:
    return Component.objects.filter(remediation_policy__breaker_open_since__isnull=False).select_related(
        "environment", "remediation_policy"
    )


def _rebuild_disabled() -> QuerySet:
    return (
        Component.objects.exclude(remediation_policy__rebuild_disabled_reason="")
        .filter(remediation_policy__isnull=False)
        .select_related("environment", "remediation_policy")
    )


KINDS = [
    FindingKind(
        slug="remediation-circuit-open",
        title="Remediation circuit breaker open",
        severity=Severity.CRITICAL,
        principle=1,
        advice="Replacing instances did not bring the component back: find the cause (image, config, a dependency), "
        "then close the breaker on the component page.",
        violators=_breaker_open,
        describe=lambda c: f"{c.name} ({c.environment}): {c.remediation_policy.breaker_reason}",
    ),
    FindingKind(
        slug="rebuild-policy-disabled",
        title="Rebuild policy disabled itself",
        severity=Severity.WARNING,
        principle=1,
        advice="Fix the image build, then re-enable the rebuild policy so images stay fresh.",
        violators=_rebuild_disabled,
        describe=lambda c: f"{c.name} ({c.environment}): {c.remediation_policy.rebuild_disabled_reason}",
    ),
]


def register_all() -> None:
    for kind in KINDS:
        register(kind)
