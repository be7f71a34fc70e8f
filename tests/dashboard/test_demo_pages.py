"""The demo estate, walked page by page: every app's data rendered together, as a new user sees it."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from estate.core.findings import finding_counts, finding_kinds
from estate.inventory.models import Component

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(client):
    call_command("load_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert client.login(username="demo", password="estate-demo")
    assert Component.objects.exists()
    return client


def test_every_finding_of_the_demo_is_served_with_a_link(demo):
    response = demo.get("/api/v1/findings/", {"page_size": 1000})
    assert response.status_code == 200, response.content[:500]
    body = response.json()
    assert body["count"] == sum(finding_counts().values()) > 0
    assert {row["kind"] for row in body["results"]} == {k.slug for k in finding_kinds() if finding_counts()[k.slug]}
    assert all(row["url"].startswith("/") for row in body["results"])


def test_findings_page_links_every_finding(demo):
    response = demo.get("/findings/", {"per_page": 100})
    assert response.status_code == 200
    assert b'href=""' not in response.content


@pytest.mark.parametrize("url", ["/", "/components/", "/findings/", "/api/v1/", "/api/v1/components/"])
def test_demo_pages_answer(demo, url):
    assert demo.get(url).status_code == 200


def test_every_demo_component_page_answers(demo):
    for pk in Component.objects.values_list("pk", flat=True):
        response = demo.get(f"/components/{pk}/")
        assert response.status_code == 200, pk
