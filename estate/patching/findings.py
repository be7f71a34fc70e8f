"""Patching's finding kinds: principle 5 read off windows, occurrences and slots, set-based."""

from __future__ import annotations

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from estate.core.choices import Severity
from estate.core.findings import FindingKind, register
from estate.inventory.choices import Mode
from estate.inventory.models import Component
from estate.patching.choices import FreezeScope, OccurrenceStatus
from estate.patching.db import DaysFrom
from estate.patching.models import ChangeFreeze, Occurrence, Slot


def _cadence_overdue() -> QuerySet:
    """Bastions older than their cadence with no completed occurrence in it, or none planned in the next.

    A bastion younger than its cadence is not late yet: it is judged once a whole cadence has passed.
    """
    now = timezone.now()
    cadence = OuterRef("patch_cadence_days")
    completed = Occurrence.objects.filter(
        window__components=OuterRef("pk"), status=OccurrenceStatus.COMPLETED, end__gte=DaysFrom(now, cadence * -1)
    )
    planned = Slot.objects.filter(component=OuterRef("pk"), end__gt=now, start__lt=DaysFrom(now, cadence))
    return (
        Component.objects.filter(mode=Mode.BASTION, managed=False, patch_cadence_days__isnull=False)
        .filter(created_at__lt=DaysFrom(now, F("patch_cadence_days") * -1))
        .annotate(patched_recently=Exists(completed), planned_soon=Exists(planned))
        .filter(Q(planned_soon=False) | Q(patched_recently=False))
        .select_related("environment")
    )


def _describe_cadence(component: Component) -> str:
    days = component.patch_cadence_days
    problems = []
    if not component.patched_recently:
        problems.append(f"no completed patch window in the last {days} days")
    if not component.planned_soon:
        problems.append(f"no window planned in the next {days} days")
    return f"{component.name} ({component.environment}) is patched every {days} days: {' and '.join(problems)}."


def _conflicting_slots() -> QuerySet:
    slot_overlap = {"start__lt": OuterRef("end"), "end__gt": OuterRef("start")}
    freezes = ChangeFreeze.objects.filter(**slot_overlap).filter(
        Q(scope=FreezeScope.ALL)
        | Q(scope=FreezeScope.ENVIRONMENT, environment_id=OuterRef("component__environment_id"))
        | Q(scope=FreezeScope.SYSTEM, system_id=OuterRef("component__system_id"))
    )
    mates = Slot.objects.filter(component__cluster_id=OuterRef("component__cluster_id"), **slot_overlap).exclude(
        component_id=OuterRef("component_id")
    )
    return (
        Slot.objects.filter(end__gt=timezone.now())
        .annotate(in_freeze=Exists(freezes))
        .filter(Q(in_freeze=True) | Q(Exists(mates), component__cluster__isnull=False))
        .select_related("window", "component")
    )


def _describe_slot(slot: Slot) -> str:
    why = "inside a change freeze" if slot.in_freeze else "together with another member of its cluster"
    return f"“{slot.window.title}” takes {slot.component.name} down on {slot.start:%Y-%m-%d %H:%M} UTC {why}."


KINDS = [
    FindingKind(
        slug="patch-cadence-overdue",
        title="Patch cadence overdue or no window planned",
        severity=Severity.WARNING,
        principle=5,
        advice="Plan a patch window within the component's cadence and record its occurrences as completed.",
        violators=_cadence_overdue,
        describe=_describe_cadence,
    ),
    FindingKind(
        slug="patch-window-conflict",
        title="Patch window in a change freeze or overlapping a cluster member",
        severity=Severity.CRITICAL,
        principle=5,
        advice="Move or skip the occurrence: respect change freezes and never patch primary and replica together.",
        violators=_conflicting_slots,
        component_path="component",
        describe=_describe_slot,
    ),
]


def register_all() -> None:
    for kind in KINDS:
        register(kind)
