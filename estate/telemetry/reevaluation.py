"""Health right after an ingest: the components a batch named are evaluated within seconds.

A batch marks its components (PendingEvaluation, one INSERT in its transaction that skips the ids
already marked) and, once it has committed and unless one is already on its way, queues one
`evaluate_touched` task to run a moment later. That task takes every mark at once and evaluates
those components with the estate-wide evaluation's own queries restricted to them. A flood of
batches therefore costs one evaluation per moment, not one per batch, and the request never waits
for an evaluation.

Nothing here is needed for health to be right: the beat's full evaluation still runs every 30 s
and covers a mark whose task was lost (broker down, worker killed).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

from estate.telemetry.health import Evaluation, evaluate_estate
from estate.telemetry.models import PendingEvaluation

log = logging.getLogger(__name__)

LOCK_KEY = "telemetry:evaluate-touched:queued"
# Past this many marked components one estate-wide pass is cheaper than a long list of ids.
SUBSET_LIMIT = 2000
# Until when the evaluation this process queued last is still to run (time.monotonic()): batches
# committed before then ride on it without asking Redis, so a flood costs one round trip a second.
_queued_until = 0.0


def mark_touched(component_ids: Iterable[int]) -> None:
    """Mark these components in the caller's (the batch's) transaction and queue an evaluation once it commits.

    Inside the batch's transaction the mark costs one INSERT and no commit of its own, and a batch
    that is rolled back marks nothing. Sorted ids, conflicts ignored: two batches naming the same
    components never wait on each other in a cycle, and an id already marked costs nothing.
    """
    ids = sorted(set(component_ids))
    if ids:
        _insert_marks(ids)
        transaction.on_commit(_queue_evaluation)


def _insert_marks(ids: list[int]) -> None:
    if connection.vendor != "postgresql":
        PendingEvaluation.objects.bulk_create([PendingEvaluation(component_id=pk) for pk in ids],
                                              ignore_conflicts=True, batch_size=2000)  # fmt: skip
        return
    # One array parameter whatever the number of ids: a quarter of bulk_create's time for 20 ids.
    table = connection.ops.quote_name(PendingEvaluation._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (component_id) SELECT unnest(%s::bigint[]) ON CONFLICT DO NOTHING",  # noqa: S608
            [ids],
        )


def _queue_evaluation() -> None:
    """Queue one evaluation, `delay` seconds from now, unless one was queued less than `delay` ago.

    The lock lives exactly as long as the countdown: a batch that finds it taken has committed its
    marks before the queued task can run, so that task takes them. Once it has expired, the next
    batch queues the next task. This runs after the batch committed, so a failure is logged, not
    raised: the batch is stored, its marks stay, and the beat's evaluation covers them.
    """
    global _queued_until
    from estate.telemetry.tasks import evaluate_touched

    started = time.monotonic()
    if started < _queued_until:
        return
    delay = max(1, settings.TELEMETRY_REEVALUATE_DELAY_SECONDS)  # the Redis cache counts whole seconds
    try:
        if cache.add(LOCK_KEY, 1, timeout=delay):
            evaluate_touched.apply_async(countdown=delay, retry=False)
            _queued_until = started + delay
    except Exception:  # noqa: BLE001 - see above
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
        _insert_marks(ids)
        raise


def _take_marks() -> list[int]:
    """DELETE ... RETURNING (PostgreSQL, SQLite 3.35+): of two evaluations at once, each mark goes to one."""
    table = connection.ops.quote_name(PendingEvaluation._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} RETURNING component_id")  # noqa: S608 - the model's own table
        return sorted(row[0] for row in cursor.fetchall())
