"""Discovery's writes: asking for a sync, running it, pruning what has been gone long enough."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Exists, Max, OuterRef, ProtectedError, RestrictedError
from django.utils import timezone

from estate.audit.context import acting_as
from estate.core.errors import ApplicationError
from estate.core.services import validated_delete
from estate.discovery.aws import AwsReader
from estate.discovery.choices import RunState, SourceKind
from estate.discovery.kubernetes import KubernetesReader
from estate.discovery.models import DiscoveredObject, DiscoverySource, SyncRun
from estate.discovery.sync import SyncWriter
from estate.inventory.models import Cluster

log = logging.getLogger(__name__)
VIA = "discovery"
ACTIVE = (RunState.QUEUED, RunState.RUNNING)
READERS = {SourceKind.AWS: AwsReader, SourceKind.KUBERNETES: KubernetesReader}


def sync_request(*, source: DiscoverySource, user=None) -> SyncRun:
    """Queue a sync of `source` (the task runs once this transaction commits). A run already queued
    is answered instead of a second one; a run already running makes the new one refused when it starts."""
    if not source.enabled:
        raise ApplicationError(f"Source {source} is disabled.", errors={"enabled": ["Enable it first."]}, status=409)
    queued = source.runs.filter(state=RunState.QUEUED).first()
    if queued is not None:
        return queued
    run = SyncRun.objects.create(source=source, requested_by=user if getattr(user, "pk", None) else None)
    from estate.discovery.tasks import discovery_sync

    transaction.on_commit(lambda: discovery_sync.delay(source.pk, run.pk))
    return run


def sync_now(*, source: DiscoverySource, user=None) -> SyncRun:
    """Run a sync here and now (the command line, tests): a queued run, claimed and executed at once."""
    run = SyncRun.objects.create(source=source, requested_by=user if getattr(user, "pk", None) else None)
    return sync_execute(run_id=run.pk)


def sync_execute(*, run_id: int) -> SyncRun:
    """Claim the run, read the source, write what it holds; the run row says how it went."""
    run = SyncRun.objects.select_related("source").get(pk=run_id)
    if not _claim(run):
        return run
    try:
        _read_and_write(run)
    except Exception as exc:  # the run's row is the report: whatever stopped it is written there
        log.exception("discovery sync %s of %s failed", run.pk, run.source)
        _finish(run, RunState.FAILED, messages=[f"{type(exc).__name__}: {getattr(exc, 'message', exc)}"[:1000]])
    return run


def _claim(run: SyncRun) -> bool:
    """queued → running, or refused when another run of the source is running (the partial unique
    index decides, so two workers racing cannot both win)."""
    now = timezone.now()
    try:
        with transaction.atomic():
            claimed = SyncRun.objects.filter(pk=run.pk, state=RunState.QUEUED).update(
                state=RunState.RUNNING, started_at=now
            )
    except IntegrityError:
        _finish(run, RunState.REFUSED, messages=["Another sync of this source was running."], started_at=now)
        return False
    if claimed:
        run.state, run.started_at = RunState.RUNNING, now
    return bool(claimed)


def _read_and_write(run: SyncRun) -> None:
    source = run.source
    reader = READERS[source.kind](source)
    results = reader.read_all()
    account = reader.account_id
    read = [r.region for r in results if not r.error]
    seen = [c for r in results if not r.error for c in r.components]
    with acting_as(source.actor_name, via=VIA, on_behalf_of=run.requested_by_id), transaction.atomic():
        report = SyncWriter(source, account=account, now=timezone.now()).write(seen, read)
        state = RunState.FAILED if not read else RunState.PARTIAL if len(read) < len(results) else RunState.SUCCEEDED
        run.account = account
        run.region_errors = {r.region: r.error for r in results if r.error}
        _finish(
            run,
            state,
            messages=report.messages,
            report=report.as_dict(),
            **{name: report.total(name) for name in ("created", "updated", "unchanged", "gone")},
            errors=report.total("errors") + len(run.region_errors),
        )


def _finish(run: SyncRun, state: str, **fields) -> None:
    fields |= {"state": state, "finished_at": timezone.now()}
    for name, value in fields.items():
        setattr(run, name, value)
    run.save(update_fields=[*fields, "account", "region_errors"])


# --- the schedule ------------------------------------------------------------------------


def queue_due_syncs(*, now: datetime | None = None) -> list[SyncRun]:
    """Queue a sync of every enabled source whose interval has passed since its last run, after
    marking failed the runs that have been running for longer than DISCOVERY_RUN_TIMEOUT_MINUTES
    (their worker died: without this the source could never run again)."""
    now = now or timezone.now()
    sweep_stale_runs(now=now)
    active = SyncRun.objects.filter(source=OuterRef("pk"), state__in=ACTIVE)
    sources = DiscoverySource.objects.filter(enabled=True).annotate(last=Max("runs__created_at"), busy=Exists(active))
    due = [
        s for s in sources.filter(busy=False) if s.last is None or s.last <= now - timedelta(minutes=s.interval_minutes)
    ]
    return [sync_request(source=s) for s in due]


def sweep_stale_runs(*, now: datetime) -> int:
    cutoff = now - timedelta(minutes=settings.DISCOVERY_RUN_TIMEOUT_MINUTES)
    return SyncRun.objects.filter(state=RunState.RUNNING, started_at__lt=cutoff).update(
        state=RunState.FAILED, finished_at=now, messages=["Timed out: the worker running it stopped."]
    )


# --- prune -------------------------------------------------------------------------------


def discovery_prune(*, source: DiscoverySource | None = None, now: datetime | None = None) -> dict:
    """Delete what has been gone from its source for longer than DISCOVERY_PRUNE_AFTER_DAYS, row by row
    through validated_delete (audited, delete guards asked). Never called by a sync: only on request."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.DISCOVERY_PRUNE_AFTER_DAYS)
    stale = DiscoveredObject.objects.filter(gone_since__lt=cutoff).select_related("source", "component", "instance")
    if source is not None:
        stale = stale.filter(source=source)
    pruned, refused = 0, []
    components = list(stale.filter(component__isnull=False))
    clusters = {r.component.cluster_id: r.source for r in components if r.component.cluster_id}
    # Components first: their instances go with them; then the instances of components still there.
    for record in components + list(stale.filter(instance__isnull=False)):
        if not DiscoveredObject.objects.filter(pk=record.pk).exists():
            continue
        error = _prune_one(record)
        pruned += not error
        refused += [error] if error else []
    refused += _prune_emptied_clusters(clusters)
    return {"pruned": pruned, "refused": refused, "cutoff": cutoff.isoformat()}


def _prune_emptied_clusters(clusters: dict[int, DiscoverySource]) -> list[str]:
    """A cluster whose pruned members were its last goes with them (an Aurora cluster deleted at AWS)."""
    refused = []
    for cluster in Cluster.objects.filter(pk__in=clusters, members__isnull=True):
        source = clusters[cluster.pk]
        try:
            with acting_as(source.actor_name, via=VIA), transaction.atomic():
                validated_delete(cluster, message=f"pruned: its last members were gone from {source}")
        except (ApplicationError, ProtectedError, RestrictedError, PermissionDenied) as exc:
            refused.append(f"cluster {cluster.slug}: {getattr(exc, 'message', exc)}")
    return refused


def _prune_one(record: DiscoveredObject) -> str:
    target = record.component or record.instance
    message = f"pruned: gone from {record.source} since {record.gone_since:%Y-%m-%d %H:%M} UTC"
    try:
        with acting_as(record.source.actor_name, via=VIA), transaction.atomic():
            validated_delete(target, message=message)
    except (ApplicationError, ProtectedError, RestrictedError, PermissionDenied) as exc:
        return f"{record.key}: {getattr(exc, 'message', exc)}"
    return ""
