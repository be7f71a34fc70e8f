"""Reads for the discovery pages: a fixed number of queries whatever the number of sources and runs."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from estate.audit.models import AuditEvent
from estate.discovery.choices import FINISHED_STATES, RunState
from estate.discovery.models import DiscoveredObject, DiscoverySource, SyncRun

ACTIVE = (RunState.QUEUED, RunState.RUNNING)
# Tabler colours, in the spirit of core's STATUS_COLOURS (green done, yellow partly, red failed).
RUN_COLOURS = {
    RunState.QUEUED: "secondary",
    RunState.RUNNING: "blue",
    RunState.SUCCEEDED: "green",
    RunState.PARTIAL: "yellow",
    RunState.FAILED: "red",
    RunState.REFUSED: "orange",
}
CHANGES_SHOWN = 100


def _latest(states=None) -> Subquery:
    runs = SyncRun.objects.filter(source=OuterRef("pk"))
    if states is not None:
        runs = runs.filter(state__in=states)
    return Subquery(runs.order_by("-created_at", "-id").values("pk")[:1])


def _count(**where) -> Coalesce:
    counted = (
        DiscoveredObject.objects.filter(source=OuterRef("pk"), **where)
        .order_by()
        .values("source")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def source_overview() -> list[DiscoverySource]:
    """Every source with its last run, its last finished run (whose counts the page shows), what it
    manages now and when it runs next: two queries."""
    sources = list(
        DiscoverySource.objects.annotate(
            last_run_id=_latest(),
            last_finished_id=_latest(FINISHED_STATES),
            component_count=_count(component__isnull=False, gone_since__isnull=True, detached_at__isnull=True),
            gone_count=_count(component__isnull=False, gone_since__isnull=False),
        )
    )
    wanted = {pk for s in sources for pk in (s.last_run_id, s.last_finished_id) if pk}
    runs = SyncRun.objects.in_bulk(wanted)
    for source in sources:
        source.last_run = _coloured(runs.get(source.last_run_id))
        source.last_finished = _coloured(runs.get(source.last_finished_id))
        source.next_run_at = next_run_at(source, source.last_run)
    return sources


def next_run_at(source: DiscoverySource, last: SyncRun | None, now: datetime | None = None) -> datetime | None:
    """When beat queues it next (None: disabled, or a run is queued or running already)."""
    if not source.enabled or (last is not None and last.state in ACTIVE):
        return None
    now = now or timezone.now()
    if last is None:
        return now
    return max(now, last.created_at + timedelta(minutes=source.interval_minutes))


def source_runs(source: DiscoverySource) -> QuerySet[SyncRun]:
    return source.runs.select_related("requested_by").order_by("-created_at", "-id")


def run_changes(run: SyncRun) -> tuple[list[AuditEvent], int]:
    """What the run wrote, from the audit trail (done by discovery:<source> while it ran), at most
    CHANGES_SHOWN of them, and how many there are."""
    if run.started_at is None:
        return [], 0
    events = AuditEvent.objects.filter(
        actor=run.source.actor_name, at__gte=run.started_at, at__lte=run.finished_at or timezone.now()
    ).order_by("pk")
    return list(events[:CHANGES_SHOWN]), events.count()


def _coloured(run: SyncRun | None) -> SyncRun | None:
    if run is not None:
        run.colour = RUN_COLOURS.get(run.state, "secondary")
    return run


def coloured(runs) -> list[SyncRun]:
    return [_coloured(run) for run in runs]


REPORT_ORDER = ("component", "instance", "image")


def report_rows(run: SyncRun) -> list[tuple[str, dict]]:
    """The report's kinds in a reading order (a JSON column need not keep the order they were written in)."""
    kinds = sorted(run.report or {}, key=lambda k: (REPORT_ORDER.index(k) if k in REPORT_ORDER else 99, k))
    return [(kind, run.report[kind]) for kind in kinds]
