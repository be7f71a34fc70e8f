from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import BastionComponentFactory, ImmutableComponentFactory, InstanceFactory
from tests.html_text import parse

pytestmark = pytest.mark.django_db


def _tile(page, testid: str) -> str:
    return page.find(data_testid=testid).text


@pytest.fixture
def mixed_estate():
    """Five components: one truly immutable, three immutable ones that break a principle, one bastion."""
    clean = ImmutableComponentFactory(name="orders-api")
    tainted = ImmutableComponentFactory(name="cart-api")
    ImmutableComponentFactory(name="ledger-worker", ssh_enabled=True)
    ImmutableComponentFactory(name="resizer", heartbeat_period_seconds=None)
    BastionComponentFactory(name="orders-db")
    InstanceFactory(component=clean, launched_at=timezone.now() - timedelta(days=60))
    InstanceFactory(component=tainted, tainted=True, taint_reason="hotfix applied over SSH")


def test_anonymous_user_is_sent_to_the_login_page(client):
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/"


def test_dashboard_shows_the_estate_counts(client, viewer, mixed_estate):
    client.force_login(viewer)
    page = parse(client.get(reverse("dashboard")).content)

    assert _tile(page, "total") == "5"
    assert _tile(page, "immutable") == "4"
    assert _tile(page, "bastion") == "1"
    assert _tile(page, "truly-immutable") == "1 of 4 stateless"


def test_dashboard_counts_findings_per_severity(client, viewer, mixed_estate):
    client.force_login(viewer)
    page = parse(client.get(reverse("dashboard")).content)

    # critical: SSH on ledger-worker and the tainted cart-api instance; warning: resizer has no
    # heartbeat; info: the orders-api instance is 60 days old, past its 30-day limit.
    assert _tile(page, "findings-critical") == "2"
    assert _tile(page, "findings-warning") == "1"
    assert _tile(page, "findings-info") == "1"


def test_dashboard_tiles_link_to_the_filtered_lists(client, viewer, mixed_estate):
    client.force_login(viewer)
    html = client.get(reverse("dashboard")).content.decode()

    assert f'href="{reverse("component_list")}?mode=bastion"' in html
    assert f'href="{reverse("finding_list")}?severity=critical"' in html


def test_dashboard_ships_the_chart_data(client, viewer, mixed_estate):
    client.force_login(viewer)
    page = parse(client.get(reverse("dashboard")).content)

    assert page.find("canvas", id="category-chart")
    data = page.find("script", id="category-chart-data").text
    assert '"labels": ["Service", "Database"]' in data
    assert '"immutable": [4, 0]' in data
    assert '"bastion": [0, 1]' in data


def test_empty_estate_says_what_to_do_next(client, editor):
    client.force_login(editor)
    response = client.get(reverse("dashboard"))
    page = parse(response.content)

    assert response.status_code == 200
    assert "Your estate is empty" in page.find(class_="empty").text
    assert page.find("a", href=reverse("component_create"))
    assert not page.find_all(data_testid="total")
    assert not page.find_all("canvas")


def test_login_page_logs_the_user_in_and_lands_on_the_dashboard(client, viewer):
    page = parse(client.get(reverse("login")).content)
    assert page.find("input", name="username")
    assert page.find("input", name="password", type="password")

    response = client.post(reverse("login"), {"username": "viewer", "password": "pass-word-123"})

    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")
    assert client.get(reverse("dashboard")).status_code == 200


def test_login_follows_next_to_the_page_the_user_asked_for(client, viewer):
    response = client.post(
        reverse("login"),
        {"username": "viewer", "password": "pass-word-123", "next": reverse("component_list")},
    )
    assert response["Location"] == reverse("component_list")


def test_wrong_password_shows_an_error_and_logs_nobody_in(client, viewer):
    response = client.post(reverse("login"), {"username": "viewer", "password": "not-the-password"})

    assert response.status_code == 200
    alert = parse(response.content).find(role="alert").text
    assert "Please enter a correct username and password" in alert
    assert parse(response.content).find("input", name="username").attrs["value"] == "viewer"
    assert client.get(reverse("dashboard")).status_code == 302
