from __future__ import annotations

from celery import shared_task

from estate.patching import alerting, deadlines, services


@shared_task
def start_due_occurrences() -> int:
    return services.occurrences_start_due()


@shared_task
def flag_overdue_occurrences() -> int:
    return services.occurrences_flag_overdue()


@shared_task
def extend_silences() -> int:
    return alerting.silences_extend()


@shared_task
def send_reminders() -> int:
    return alerting.reminders_send()


@shared_task
def refresh_slots() -> int:
    return services.slots_refresh()


@shared_task(name="estate.patching.tasks.refresh_deadlines")
def refresh_deadlines() -> dict:
    return deadlines.deadlines_refresh()
