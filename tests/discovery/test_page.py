"""The component page says where a discovered component came from and when it was last seen."""

from __future__ import annotations

import pytest
from django.test import Client

from estate.discovery import services
from estate.inventory.models import Component
from tests.html_text import parse

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def test_the_component_page_shows_its_source_region_account_and_last_seen(signed_in, aws, source):
    aws.aurora("orders", "eu-west-1", members=1)
    services.sync_now(source=source)
    component = Component.objects.get(slug="orders-1")
    page = signed_in.get(component.get_absolute_url())
    assert page.status_code == 200
    (panel,) = parse(page.content).find_all(data_testid="origin-panel")
    text = panel.text
    assert "Discovered by aws-test (AWS): RDS instance" in text
    assert "eu-west-1, account 123456789012" in text
    assert "sun:03:00-sun:04:00" in text and "Last seen" in text and "Gone since" not in text


def test_a_component_typed_in_by_hand_has_no_source_panel(signed_in, db):
    from tests.factories import ImmutableComponentFactory

    page = signed_in.get(ImmutableComponentFactory().get_absolute_url())
    assert page.status_code == 200 and 'data-testid="origin-panel"' not in page.content.decode()
