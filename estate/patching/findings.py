"""Patching's finding kinds: principle 5 read off windows, occurrences and slots, set-based."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from estate.core.choices import Severity
from estate.core.findings import FindingKind, register
from estate.inventory.choices import Mode
from estate.inventory.models import Component
from estate.patching import deadlines
from estate.patching.choices import DeadlineSource, FreezeScope, OccurrenceStatus
from estate.patching.db import DaysFrom
from estate.patching.models import ChangeFreeze, Deadline, Occurrence, Slot


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
    for kind in KINDS + DEADLINE_KINDS:
        register(kind)


# --- deadlines set by others (deadlines.py keeps the rows and their proposals) ---

VENDOR_SOON_DAYS = 14


def _vendor_deadlines(*, soon: bool) -> QuerySet:
    edge = timezone.now() + timedelta(days=VENDOR_SOON_DAYS)
    rows = Deadline.objects.exclude(source=DeadlineSource.END_OF_LIFE).filter(window__isnull=True)
    rows = rows.filter(due__lte=edge) if soon else rows.filter(due__gt=edge)
    return rows.select_related("component__environment")


def _describe_vendor(deadline: Deadline) -> str:
    days = deadlines.days_left(deadline)
    when = f"in {days} days" if days >= 0 else f"{-days} days ago"
    what = deadline.action if deadline.source == DeadlineSource.RDS else f"service update {deadline.action}"
    return (
        f"AWS will apply {what} to {deadline.component.name} on {deadline.due:%Y-%m-%d} ({when}) unless you do. "
        + deadlines.proposal_text(deadline)
    )


def _end_of_life(*, passed: bool) -> QuerySet:
    rows = Deadline.objects.filter(source=DeadlineSource.END_OF_LIFE)
    rows = rows.filter(due__lte=timezone.now()) if passed else rows.filter(due__gt=timezone.now(), window__isnull=True)
    return rows.select_related("component__environment")


def _describe_end_of_life(deadline: Deadline) -> str:
    days = deadlines.days_left(deadline)
    version = deadline.action.removesuffix(" end of life")
    c = deadline.component
    if days < 0:
        said = f"{c.name} runs {version}, which reached end of life on {deadline.due:%Y-%m-%d}."
    else:
        said = f"{c.name} runs {version}, which reaches end of life on {deadline.due:%Y-%m-%d}, in {days} days."
    return f"{said} {deadlines.proposal_text(deadline)}"


DEADLINE_KINDS = [
    FindingKind(
        slug="vendor-maintenance-soon",
        title=f"The vendor applies maintenance within {VENDOR_SOON_DAYS} days",
        severity=Severity.CRITICAL,
        principle=5,
        advice="Accept the proposed window (or plan your own) and apply the action yourself before the vendor does.",
        violators=lambda: _vendor_deadlines(soon=True),
        component_path="component",
        describe=_describe_vendor,
    ),
    FindingKind(
        slug="vendor-maintenance-pending",
        title="The vendor will apply maintenance unless you do",
        severity=Severity.WARNING,
        principle=5,
        advice="Accept the proposed window (or plan your own) so the change happens at a time you chose.",
        violators=lambda: _vendor_deadlines(soon=False),
        component_path="component",
        describe=_describe_vendor,
    ),
    FindingKind(
        slug="engine-end-of-life",
        title="Engine version past its end of life",
        severity=Severity.CRITICAL,
        principle=5,
        advice="Upgrade to a supported major version in a window: no security fixes are published for this one.",
        violators=lambda: _end_of_life(passed=True),
        component_path="component",
        describe=_describe_end_of_life,
    ),
    FindingKind(
        slug="engine-end-of-life-soon",
        title="Engine version reaches its end of life soon",
        severity=Severity.WARNING,
        principle=5,
        advice="Plan the major upgrade before the date: accept the proposed window or plan your own.",
        violators=lambda: _end_of_life(passed=False),
        component_path="component",
        describe=_describe_end_of_life,
    ),
]
