from __future__ import annotations

import logging

from celery import shared_task

from estate.telemetry import health, reevaluation, retention

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def evaluate_health() -> None:
    result = health.evaluate_estate()
    log.info("health evaluated: %d components and %d instances changed", result.components_changed,
             result.instances_changed)  # fmt: skip


@shared_task(ignore_result=True)
def evaluate_touched() -> None:
    """Queued after ingest batches commit (reevaluation.py): the components they named, within seconds."""
    result = reevaluation.evaluate_touched()
    if result is not None:
        log.info("touched components evaluated: %d components and %d instances changed",
                 result.components_changed, result.instances_changed)  # fmt: skip


@shared_task(ignore_result=True)
def rollup_and_purge() -> None:
    result = retention.rollup_and_purge()
    log.info("telemetry: %d rollups, %d samples purged, %d other rows purged, sample partitions: %d created, "
             "%d dropped", result.rollups, result.samples_purged, result.other_purged, result.partitions_created,
             result.partitions_dropped)  # fmt: skip
