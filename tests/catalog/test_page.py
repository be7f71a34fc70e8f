"""The catalog page: paste or upload, read the plan, confirm with the plan's digest."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from estate.catalog.models import CatalogApply
from estate.inventory.models import Component
from tests.catalog.conftest import BASE, inventory_counts

pytestmark = pytest.mark.django_db

PAGE = reverse("catalog_page")
CONFIRM = reverse("catalog_confirm")


def digest_in(html: str) -> str:
    return re.search(r'name="digest" value="([0-9a-f]{64})"', html).group(1)


def test_page_shows_the_form_and_no_inline_script_or_style(client, viewer):
    client.force_login(viewer)
    html = client.get(PAGE).content.decode()
    assert 'data-testid="catalog-form"' in html
    assert "No catalog applied yet." in html
    assert " style=" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)


def test_pasted_catalog_is_planned_with_a_table_and_nothing_written(client, estate_admin):
    client.force_login(estate_admin)
    before = inventory_counts()
    response = client.post(PAGE, {"catalog": BASE, "name": "shop.yaml"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('data-testid="plan-row"') == 6
    assert 'data-testid="plan-create">6<' in html
    assert 'data-testid="catalog-confirm"' in html
    assert inventory_counts() == before


def test_uploaded_file_is_planned_and_the_diff_shows_before_and_after(client, estate_admin):
    client.force_login(estate_admin)
    client.post(CONFIRM, {"catalog": BASE, "name": "shop.yaml", "digest": ""})
    upload = SimpleUploadedFile("shop.yaml", BASE.replace("desiredInstances: 3", "desiredInstances: 5").encode())
    html = client.post(PAGE, {"file": upload}).content.decode()
    assert "Plan for shop.yaml" in html
    assert '<del class="text-danger">3</del> → <ins class="text-success">5</ins>' in html


def test_confirm_applies_the_plan_it_carries(client, estate_admin):
    client.force_login(estate_admin)
    digest = digest_in(client.post(PAGE, {"catalog": BASE, "name": "shop.yaml"}).content.decode())
    response = client.post(CONFIRM, {"catalog": BASE, "name": "shop.yaml", "digest": digest}, follow=True)
    assert Component.objects.count() == 2
    assert "Catalog shop.yaml applied: 6 created, 0 updated, 0 unchanged, 0 pruned." in response.content.decode()
    assert CatalogApply.objects.get().user == estate_admin


def test_confirm_after_the_inventory_changed_shows_the_new_plan_instead(client, estate_admin):
    client.force_login(estate_admin)
    digest = digest_in(client.post(PAGE, {"catalog": BASE, "name": "shop.yaml"}).content.decode())
    client.post(CONFIRM, {"catalog": BASE.split("  - slug: shop-db")[0], "name": "other.yaml", "digest": ""})
    before = inventory_counts()
    response = client.post(CONFIRM, {"catalog": BASE, "name": "shop.yaml", "digest": digest})
    html = response.content.decode()
    assert "changed since the plan was read" in html
    assert 'data-testid="plan-create">1<' in html  # only shop-db is still to create
    assert inventory_counts() == before


def test_refused_catalog_lists_the_places(client, estate_admin):
    client.force_login(estate_admin)
    response = client.post(PAGE, {"catalog": BASE + "    colour: red\n", "name": "shop.yaml"})
    assert response.status_code == 400
    assert "shop.yaml:24 components[1].colour: Unknown key" in response.content.decode()


def test_viewer_reads_the_plan_but_has_no_confirm_and_may_not_apply(client, viewer):
    client.force_login(viewer)
    html = client.post(PAGE, {"catalog": BASE}).content.decode()
    assert 'data-testid="catalog-confirm"' not in html
    assert "Applying a catalog needs the admin role." in html
    assert client.post(CONFIRM, {"catalog": BASE, "digest": ""}).status_code == 403
    assert Component.objects.count() == 0


def test_upload_over_the_limit_is_413(client, estate_admin, settings):
    settings.CATALOG_MAX_BYTES = 50
    client.force_login(estate_admin)
    response = client.post(PAGE, {"file": SimpleUploadedFile("big.yaml", BASE.encode())})
    assert response.status_code == 413
    assert "CATALOG_MAX_BYTES" in response.content.decode()
