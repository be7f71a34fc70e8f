from __future__ import annotations

import logging

from celery import shared_task

from estate.notifications import findings

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def notify_critical_findings() -> None:
    """Beat: tell the owners of critical findings that were not there at the last look."""
    new = findings.critical_findings_notify()
    if new:
        log.info("critical findings: %d new", new)
