from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from estate.audit.models import AuditEvent
from tests.factories import UserFactory


@pytest.fixture
def auditor(db):
    """May read the audit trail and nothing else."""
    user = UserFactory(username="auditor")
    user.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    return user


@pytest.fixture
def outsider(db):
    """Logged in, with no permission at all."""
    return UserFactory(username="outsider")


def events(**filters) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(**filters).order_by("id"))


def only_event(**filters) -> AuditEvent:
    found = events(**filters)
    assert len(found) == 1, found
    return found[0]
