"""manage.py catalog plan | apply [--prune] | export."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from estate.audit.models import AuditEvent
from estate.inventory.models import Component
from tests.catalog.conftest import BASE, SHOP, inventory_counts

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("catalog", *args, stdout=out)
    return out.getvalue()


def test_plan_prints_the_diff_and_writes_nothing(tmp_path):
    path = tmp_path / "shop.yaml"
    path.write_text(BASE)
    before = inventory_counts()
    out = run("plan", str(path))
    assert "+ component production/cart-api: create" in out
    assert "Plan (shop.yaml): 6 to create, 0 to update, 0 unchanged, 0 would be pruned with --prune." in out
    assert inventory_counts() == before


def test_apply_a_folder_then_change_shows_before_and_after(tmp_path):
    run("apply", SHOP)
    assert Component.objects.count() == 7
    assert AuditEvent.objects.filter(actor="catalog:estate.yaml").exists()
    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / "estate.yaml").write_text(
        Path("tests/catalog/shop/estate.yaml").read_text().replace("desiredInstances: 4", "desiredInstances: 6")
    )
    out = run("plan", str(folder))
    assert "~ component production/cart-api: update\n    desiredInstances: 4 → 6\n" in out


def test_apply_with_prune_deletes_what_is_gone(tmp_path):
    path = tmp_path / "shop.yaml"
    path.write_text(BASE)
    run("apply", str(path))
    path.write_text(BASE.split("  - slug: shop-db")[0])
    out = run("apply", str(path), "--prune")
    assert "- component production/shop-db: prune" in out
    assert "Applied (shop.yaml): 0 created, 0 updated, 5 unchanged, 1 pruned." in out
    assert not Component.objects.filter(slug="shop-db").exists()


def test_refusal_lists_every_place_and_applies_nothing(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BASE.replace("provider: aws", "provider: ec2") + "    colour: red\n")
    with pytest.raises(CommandError) as caught:
        run("apply", str(path))
    lines = str(caught.value).splitlines()
    assert lines[0] == "The catalog was refused; nothing was applied."
    assert any(line.startswith("bad.yaml:16 components[0].provider: 'ec2' is not one of") for line in lines)
    assert "bad.yaml:24 components[1].colour: Unknown key 'colour'" in str(caught.value)
    assert Component.objects.count() == 0


def test_a_missing_path_is_a_clear_error():
    with pytest.raises(CommandError, match="Cannot read /nonexistent.yaml"):
        run("plan", "/nonexistent.yaml")


def test_export_yaml_and_csv():
    run("apply", SHOP)
    assert run("export").startswith("# Estate catalog (estate/v1), exported.")
    assert run("export", "--format", "csv", "--kind", "instances").startswith("component,external_id,state")
