from __future__ import annotations

from celery import shared_task

from estate.operations import engine, policies, services


@shared_task(name="estate.operations.tasks.run_operation", acks_late=True, reject_on_worker_lost=True)
def run_operation(operation_id: int) -> None:
    """Carry out one operation; the message is only a wake-up call, the row says what to do."""
    engine.execute(operation_id)


@shared_task(name="estate.operations.tasks.sweep_operations")
def sweep_operations() -> int:
    return len(services.operation_sweep())


@shared_task(name="estate.operations.tasks.evaluate_policies")
def evaluate_policies() -> int:
    return len(policies.evaluate_all())
