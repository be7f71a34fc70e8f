from __future__ import annotations

from celery import shared_task

from estate.discovery import services
from estate.discovery.models import SyncRun


@shared_task(name="estate.discovery.tasks.discovery_sync", acks_late=True, reject_on_worker_lost=True)
def discovery_sync(source_id: int, run_id: int | None = None) -> int:
    """Sync one source; the run row (queued by sync_request, or made here) is the report."""
    if run_id is None:
        run_id = SyncRun.objects.create(source_id=source_id).pk
    return services.sync_execute(run_id=run_id).pk


@shared_task(name="estate.discovery.tasks.queue_due_syncs")
def queue_due_syncs() -> int:
    return len(services.queue_due_syncs())
