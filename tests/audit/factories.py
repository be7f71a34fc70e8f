from __future__ import annotations

import factory

from estate.audit.choices import AuditAction
from estate.audit.models import AuditEvent


class AuditEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditEvent

    actor = "alice"
    actor_id = 1
    ip = "192.0.2.10"
    via = "session"
    action = AuditAction.CHANGE
    object_type = "inventory.component"
    object_id = factory.Sequence(str)
    object_repr = factory.Sequence(lambda n: f"service-{n}")
    changes = factory.LazyFunction(lambda: {"description": ["old", "new"]})
