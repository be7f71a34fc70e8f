from __future__ import annotations

import pytest

from estate.celery import app as celery_app
from estate.inventory.choices import Health, InstanceState
from tests.factories import BastionComponentFactory, ImageFactory, ImmutableComponentFactory, InstanceFactory


@pytest.fixture(autouse=True)
def fast_operations(settings):
    settings.OPERATIONS_POLL_SECONDS = 0.01
    settings.OPERATIONS_DEFAULT_WARMUP_SECONDS = 0
    settings.OPERATIONS_DEFAULT_HEALTH_TIMEOUT_SECONDS = 2
    settings.OPERATIONS_SANDBOX_FAILURE_RATE = 0


@pytest.fixture
def eager_celery():
    """Run dispatched tasks in the test process (queue semantics are tested with a real worker)."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def make_component(*, instances: int = 4, **kwargs):
    """An immutable sandbox component with a current image and healthy live instances on it."""
    component = ImmutableComponentFactory(desired_instances=instances, **kwargs)
    old = ImageFactory(component=component, version="1.0.0")
    new = ImageFactory(component=component, version="2.0.0")
    component.current_image = new
    component.save()
    for n in range(instances):
        InstanceFactory(
            component=component,
            external_id=f"{component.slug}-i{n}",
            image=old,
            state=InstanceState.RUNNING,
            health=Health.HEALTHY,
        )
    return component


@pytest.fixture
def component(db):
    return make_component()


@pytest.fixture
def bastion(db):
    return BastionComponentFactory()
