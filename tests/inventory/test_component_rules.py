from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from estate.inventory import services
from estate.inventory.choices import Category, Engine, Mode, Provider
from estate.inventory.models import STATEFUL_IMMUTABLE_MESSAGE, Component
from tests.factories import BastionComponentFactory, EnvironmentFactory, ImmutableComponentFactory

pytestmark = pytest.mark.django_db


def _data(**overrides) -> dict:
    data = {
        "name": "orders-api",
        "slug": "orders-api",
        "environment": EnvironmentFactory(),
        "category": Category.SERVICE,
        "mode": Mode.IMMUTABLE,
        "provider": Provider.SANDBOX,
    }
    return {**data, **overrides}


def test_stateful_component_cannot_be_immutable():
    with pytest.raises(ValidationError) as caught:
        services.component_create(data=_data(holds_state=True))
    assert caught.value.message_dict["mode"] == [STATEFUL_IMMUTABLE_MESSAGE]
    assert not Component.objects.exists()


def test_database_refuses_stateful_immutable_even_past_the_model():
    component = ImmutableComponentFactory()
    with pytest.raises(IntegrityError):
        Component.objects.filter(pk=component.pk).update(holds_state=True)
