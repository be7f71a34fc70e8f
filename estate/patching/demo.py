"""Patch windows for the demo estate: recurring windows for its bastions, one freeze, one conflict."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from estate.inventory.models import Component
from estate.patching import deadlines, services
from estate.patching.choices import ChangeKind, DeadlineSource, FreezeScope, ImpactKind
from estate.patching.models import ChangeFreeze, PatchWindow
from estate.patching.recurrence import first_start_after

DEMO_NOTE = "Demo window: planned by the demo estate."
FREEZE_UID = "demo-freeze"
FAILOVER, LATENCY = ImpactKind.FAILOVER_ERRORS, ImpactKind.ADDED_LATENCY
RUNBOOK = [
    "Check replication lag is under 5 s",
    "Fail over to a replica if this node is the primary",
    "Apply the patch and restart",
    "Check the engine version and replication",
    "Fail back and watch error rates for 10 minutes",
]
# (component, environment, rule, local hour, change kind, impact, seconds)
WINDOWS = [
    ("storefront-db-1", "production", "FREQ=WEEKLY;BYDAY=TU", 2, ChangeKind.OS_PATCH, FAILOVER, 20),
    ("storefront-db-2", "production", "FREQ=WEEKLY;BYDAY=WE", 2, ChangeKind.OS_PATCH, FAILOVER, 0),
    ("storefront-db-3", "production", "FREQ=WEEKLY;BYDAY=TH", 2, ChangeKind.OS_PATCH, FAILOVER, 0),
    ("payments-db-1", "production", "FREQ=MONTHLY;BYDAY=2TU", 3, ChangeKind.MINOR_VERSION, FAILOVER, 30),
    ("payments-db-2", "production", "FREQ=MONTHLY;BYDAY=2WE", 3, ChangeKind.MINOR_VERSION, FAILOVER, 0),
    ("session-cache", "production", "FREQ=WEEKLY;BYDAY=SU", 4, ChangeKind.OS_PATCH, LATENCY, 120),
    ("payments-queue", "production", "FREQ=MONTHLY;BYDAY=1MO", 3, ChangeKind.OS_PATCH, FAILOVER, 10),
    ("search-store", "production", "FREQ=WEEKLY;BYDAY=MO", 1, ChangeKind.CONFIGURATION, LATENCY, 300),
    ("event-stream", "production", "FREQ=MONTHLY;BYDAY=3TH", 2, ChangeKind.OS_PATCH, LATENCY, 60),
    ("artifact-store", "production", "FREQ=MONTHLY;BYDAY=-1FR", 22, ChangeKind.OS_PATCH, ImpactKind.READ_ONLY, 600),
    ("identity-db", "production", "FREQ=MONTHLY;BYDAY=1WE", 2, ChangeKind.FAILOVER_DRILL, FAILOVER, 25),
    ("storefront-db-1", "staging", "FREQ=WEEKLY;BYDAY=MO", 10, ChangeKind.MAJOR_UPGRADE, ImpactKind.DOWNTIME, 900),
    ("payments-db-1", "staging", "FREQ=WEEKLY;BYDAY=MO", 14, ChangeKind.OS_PATCH, FAILOVER, 30),
]  # fmt: skip


@transaction.atomic
def load_demo_patching() -> int:
    """Replace the demo's windows and freeze; return the number of windows."""
    PatchWindow.objects.filter(description=DEMO_NOTE).delete()
    ChangeFreeze.objects.filter(source_uid=FREEZE_UID).delete()
    components = {(c.slug, c.environment.slug): c for c in Component.objects.select_related("environment")}
    now = timezone.now()
    created = {}
    for slug, env, rule, hour, kind, impact, seconds in WINDOWS:
        component = components.get((slug, env))
        if component is None:
            continue
        start = first_start_after(after=now, wall_clock=(hour, 0), time_zone="Europe/Paris", rule=rule)
        created[(slug, env)] = services.window_save(
            data={
                "title": f"{component.name} ({env}) {kind.label.lower()}",
                "description": DEMO_NOTE,
                "components": [component],
                "start": start,
                "duration": timedelta(hours=1),
                "time_zone": "Europe/Paris",
                "rrule": rule,
                "change_kind": kind,
                "impact_kind": impact,
                "impact_seconds": seconds or None,
                "runbook": RUNBOOK,
            }
        )
    _demo_freeze(created.get(("storefront-db-3", "production")))
    _demo_forgotten_bastions(now)
    _demo_deadlines(components, now)
    return len(created)


def _demo_deadlines(components: dict, now) -> None:
    """The shipped end-of-life dates (identity-db runs MySQL 8.0, past; payments PostgreSQL 15, within the year)
    and two pending RDS actions (one within 14 days), each with its proposal."""
    deadlines.eol_load_shipped()
    pending = (
        ("storefront-db-2", "system-update", "New Operating System update is available", 40),
        ("payments-db-2", "ca-certificate-rotation", "Rotate the server certificate to rds-ca-rsa2048-g1", 10),
    )
    read = {}
    for slug, action, description, days in pending:
        component = components.get((slug, "production"))
        if component is not None:
            due = now + timedelta(days=days)
            found = deadlines.VendorAction(DeadlineSource.RDS, action, description, forced_apply_date=due)
            read.setdefault(component.pk, []).append(found)
    deadlines.vendor_deadlines_replace(read=read, sources=[DeadlineSource.RDS])
    deadlines.deadlines_refresh(now=now)


def _demo_forgotten_bastions(now) -> None:
    """Staging's other bastions have been around for months and nobody plans their patching."""
    Component.objects.filter(environment__slug="staging", mode="bastion", patch_windows__isnull=True).update(
        created_at=now - timedelta(days=120)
    )


def _demo_freeze(window: PatchWindow | None) -> None:
    """A release freeze on the storefront added after its windows were planned: the conflict to show."""
    if window is None:
        return
    first = window.start + timedelta(days=7)
    ChangeFreeze.objects.create(
        name="Storefront release freeze",
        reason="Big spring sale: no change to the storefront.",
        scope=FreezeScope.SYSTEM,
        system=window.components.first().system,
        start=first - timedelta(hours=6),
        end=first + timedelta(hours=18),
        source_uid=FREEZE_UID,
    )
