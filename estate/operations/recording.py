"""The audit record of what an operation's provider does to instances.

Providers write instance rows directly (they mirror an outside system: a launch in the sandbox, an
Auto Scaling group, a CI/CD callback), so the engine wraps every provider in RecordedProvider and
no launch or state change escapes the audit trail. The rows name the actor the engine acts as.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from estate.audit.choices import AuditAction
from estate.audit.models import AuditEvent
from estate.audit.services import audit_event, audit_record, audit_record_many
from estate.core.services import field_values
from estate.inventory.models import Instance


class RecordedProvider:
    """The provider, with each instance it launches, and each state it changes, recorded."""

    def __init__(self, provider):
        self.__dict__["_provider"] = provider

    def __getattr__(self, name):
        return getattr(self._provider, name)

    def __setattr__(self, name, value):
        setattr(self._provider, name, value)

    def launch(self, operation, replacement, image) -> Instance:
        instance = self._provider.launch(operation, replacement, image)
        created = AuditEvent.objects.filter(
            action=AuditAction.CREATE, object_type="inventory.instance", object_id=str(instance.pk)
        )
        if not created.exists():  # a launch repeated after a crash returns the instance already recorded
            audit_record(
                action=AuditAction.CREATE, obj=instance, changes=field_values(instance), message=self._why(operation)
            )
        return instance

    def refresh(self, operation, instances: Sequence[Instance]) -> None:
        self._recorded(operation, instances, lambda: self._provider.refresh(operation, instances))

    def terminate(self, operation, instances: Sequence[Instance]) -> None:
        self._recorded(operation, instances, lambda: self._provider.terminate(operation, instances))

    def _recorded(self, operation, instances: Sequence[Instance], call: Callable[[], None]) -> None:
        ids = [i.pk for i in instances]
        before = dict(Instance.objects.filter(pk__in=ids).values_list("pk", "state"))
        call()
        changes = Instance.objects.filter(pk__in=ids).order_by("pk")
        audit_record_many(
            [
                audit_event(
                    action=AuditAction.CHANGE,
                    obj=i,
                    changes={"state": [before[i.pk], i.state]},
                    message=self._why(operation),
                )
                for i in changes
                if i.pk in before and before[i.pk] != i.state
            ]
        )

    def _why(self, operation) -> str:
        return f"By operation #{operation.pk} ({operation.get_kind_display().lower()}), {self.name} provider."
