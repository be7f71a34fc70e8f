"""The demo estate's provider: images, launches, warm-up and termination simulated in Estate's own tables."""

from __future__ import annotations

import random
from collections.abc import Sequence

from django.conf import settings
from django.utils import timezone

from estate.inventory.choices import Health, InstanceState
from estate.inventory.models import Instance
from estate.operations.providers.base import OperationProvider, ProviderError


class SandboxProvider(OperationProvider):
    """Simulated, so it may write its own instances' health: nothing else reports for them."""

    name = "sandbox"

    def __init__(self, *, config=None, failure_rate: float | None = None, rng: random.Random | None = None):
        self.failure_rate = settings.OPERATIONS_SANDBOX_FAILURE_RATE if failure_rate is None else failure_rate
        self.rng = rng or random.Random()

    def _fails(self) -> bool:
        return self.failure_rate > 0 and self.rng.random() < self.failure_rate

    def build_image(self, operation) -> dict:
        if self._fails():
            raise ProviderError("Sandbox image build failed (simulated failure).")
        version = f"{timezone.now():%Y.%m.%d}-op{operation.pk}"
        return {"version": version, "reference": f"sandbox://{operation.component.slug}/{version}"}

    def launch(self, operation, replacement, image) -> Instance:
        old = replacement.old_instance
        instance, _ = Instance.objects.get_or_create(
            component_id=operation.component_id,
            external_id=f"sbx-{operation.pk}-{replacement.pk}",
            defaults={
                "image": image,
                "state": InstanceState.PENDING,
                "zone": old.zone if old else "",
                "health": Health.UNKNOWN,
                "health_reason": "warming up (sandbox)",
            },
        )
        return instance

    def refresh(self, operation, instances: Sequence) -> None:
        """A pending instance has booted: the engine calls refresh only once the warm-up has passed."""
        now = timezone.now()
        for instance in instances:
            if instance.state != InstanceState.PENDING:
                continue
            healthy = not self._fails()
            instance.state = InstanceState.RUNNING
            instance.health = Health.HEALTHY if healthy else Health.DOWN
            instance.health_reason = "sandbox warm-up finished" if healthy else "sandbox: failed to start (simulated)"
            instance.last_seen_at = now
            instance.save(update_fields=["state", "health", "health_reason", "last_seen_at", "updated_at"])

    def terminate(self, operation, instances: Sequence) -> None:
        Instance.objects.filter(pk__in=[i.pk for i in instances]).exclude(state=InstanceState.TERMINATED).update(
            state=InstanceState.TERMINATED, health=Health.UNKNOWN, health_reason="terminated", updated_at=timezone.now()
        )
