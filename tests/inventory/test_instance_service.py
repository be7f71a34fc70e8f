from __future__ import annotations

import pytest

from estate.inventory import services
from tests.factories import InstanceFactory

pytestmark = pytest.mark.django_db


def test_tainting_an_instance_records_when():
    instance = InstanceFactory()
    services.instance_save(instance=instance, data={"tainted": True, "taint_reason": "ssh_session by bob"})
    instance.refresh_from_db()
    assert instance.tainted_at is not None


def test_tainting_again_keeps_the_first_time():
    instance = InstanceFactory()
    services.instance_save(instance=instance, data={"tainted": True, "taint_reason": "ssh_session by bob"})
    first = instance.tainted_at
    services.instance_save(instance=instance, data={"taint_reason": "and a package install"})
    instance.refresh_from_db()
    assert instance.tainted_at == first


def test_clearing_the_taint_clears_its_time():
    instance = InstanceFactory()
    services.instance_save(instance=instance, data={"tainted": True, "taint_reason": "ssh_session by bob"})
    services.instance_save(instance=instance, data={"tainted": False, "taint_reason": ""})
    instance.refresh_from_db()
    assert instance.tainted_at is None
