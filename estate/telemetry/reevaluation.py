"""Health right after an ingest: the components a batch named are evaluated within seconds.

When a batch commits, its components are marked (PendingEvaluation, one INSERT that skips the ids
already marked) and, unless one is already on its way, one `evaluate_touched` task is queued to run
a moment later. That task takes every mark at once and evaluates those components with the
estate-wide evaluation's own queries restricted to them. A flood of batches therefore costs one
evaluation per moment, not one per batch, and the request never waits for an evaluation.

Nothing here is needed for health to be right: the beat's full evaluation still runs every 30 s
and covers a mark whose task was lost (broker down, worker killed).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction

from estate.telemetry.health import Evaluation, evaluate_estate
from estate.telemetry.models import PendingEvaluation

log = logging.getLogger(__name__)

LOCK_KEY = "telemetry:evaluate-touched:queued"
# Past this many marked components one estate-wide pass is cheaper than a long list of ids.
SUBSET_LIMIT = 2000


def after_commit(component_ids: Iterable[int]) -> None:
    """Mark these components once the caller's transaction commits (never for a rolled-back batch)."""
    ids = sorted(set(component_ids))
    if ids:
        transaction.on_commit(lambda: mark_touched(ids))


def mark_touched(component_ids: list[int]) -> None:
    """Mark the components and make sure an evaluation is queued; failures are logged, not raised:
    the batch is stored whatever happens here, and the beat evaluates it anyway."""
    try:
        # Sorted ids, ignoring conflicts: concurrent batches never wait on each other in a cycle.
        PendingEvaluation.objects.bulk_create(
            [PendingEvaluation(component_id=pk) for pk in component_ids], ignore_conflicts=True, batch_size=2000
        )
    except DatabaseError:
        log.warning("could not mark %d components for evaluation; the beat evaluates them", len(component_ids))
        return
    _queue_evaluation()


def _queue_evaluation() -> None:
    """Queue one evaluation, `delay` seconds from now, unless one was queued less than `delay` ago.

    The lock lives exactly as long as the countdown: a batch that finds it taken has committed its
    marks before the queued task can run, so that task takes them. Once it has expired, the next
    batch queues the next task.
    """
    from estate.telemetry.tasks import evaluate_touched

    delay = max(1, settings.TELEMETRY_REEVALUATE_DELAY_SECONDS)  # the Redis cache counts whole seconds
    if not cache.add(LOCK_KEY, 1, timeout=delay):
        return
    try:
        evaluate_touched.apply_async(countdown=delay, retry=False)
    except Exception:  # noqa: BLE001 - the marks stay; the beat's evaluation covers them
        log.warning("broker unavailable: the components an ingest named wait for the beat's evaluation")


def evaluate_touched() -> Evaluation | None:
    """Take every mark and evaluate those components; None when there was none.

    The marks are taken in their own short statement, not inside the evaluation's transaction, so a
    batch marking the same component meanwhile never waits for an evaluation. If the evaluation
    fails, they are put back for the next one.
    """
    ids = _take_marks()
    if not ids:
        return None
    try:
        return evaluate_estate(component_ids=None if len(ids) > SUBSET_LIMIT else ids)
    except Exception:
        PendingEvaluation.objects.bulk_create([PendingEvaluation(component_id=pk) for pk in ids],
                                              ignore_conflicts=True, batch_size=2000)  # fmt: skip
        raise


def _take_marks() -> list[int]:
    """DELETE ... RETURNING (PostgreSQL, SQLite 3.35+): of two evaluations at once, each mark goes to one."""
    table = connection.ops.quote_name(PendingEvaluation._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} RETURNING component_id")  # noqa: S608 - the model's own table
        return sorted(row[0] for row in cursor.fetchall())
