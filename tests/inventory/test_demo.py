"""`manage.py load_demo`: a realistic mixed estate that shows every finding, loaded idempotently."""

from __future__ import annotations

from io import StringIO

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command

from estate.core.findings import finding_counts, finding_kinds
from estate.inventory.choices import ClusterRole, Engine, Mode
from estate.inventory.models import Cluster, Component, Environment, Image, Instance, System, Tag, Team

pytestmark = pytest.mark.django_db

MODELS = [Component, Image, Instance, Cluster, Environment, System, Team, Tag, Component.depends_on.through]


def _load() -> str:
    out = StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


def _counts() -> dict[str, int]:
    counts = {model.__name__: model.objects.count() for model in MODELS}
    counts["users"] = get_user_model().objects.count()
    counts["tags on components"] = Component.tags.through.objects.count()
    return counts


@pytest.fixture
def demo():
    _load()


def _rows() -> set[tuple]:
    return set(Component.objects.values_list("pk", "environment__slug", "slug", "mode", "current_image__version"))


def test_loading_the_demo_twice_changes_nothing():
    _load()
    counts, rows, findings = _counts(), _rows(), finding_counts()
    _load()
    assert _counts() == counts
    assert _rows() == rows
    assert finding_counts() == findings
    assert counts["Component"] > 0


def test_load_demo_reports_the_estate_and_the_login():
    output = _load()
    assert f"Demo estate ready: {Component.objects.count()} components." in output
    assert f"Demo login: {settings.DEMO_USERNAME} / {settings.DEMO_PASSWORD}" in output


def test_demo_has_at_least_40_components(demo):
    assert Component.objects.count() >= 40


def test_demo_has_both_modes(demo):
    modes = set(Component.objects.values_list("mode", flat=True))
    assert modes == {Mode.IMMUTABLE, Mode.BASTION}


def test_demo_spans_at_least_two_environments(demo):
    used = Environment.objects.filter(components__isnull=False).distinct()
    assert used.count() >= 2
    assert used.filter(is_production=True).exists()
    assert used.filter(is_production=False).exists()


def test_demo_has_a_postgresql_cluster_with_a_primary_and_replicas(demo):
    roles_per_cluster = {
        cluster: set(cluster.members.values_list("role", flat=True))
        for cluster in Cluster.objects.filter(engine=Engine.POSTGRESQL)
    }
    assert any({ClusterRole.PRIMARY, ClusterRole.REPLICA} <= roles for roles in roles_per_cluster.values())
    for cluster in roles_per_cluster:
        assert set(cluster.members.values_list("environment", flat=True)) == {cluster.environment_id}
        assert set(cluster.members.values_list("engine", flat=True)) == {Engine.POSTGRESQL}


def test_demo_shows_every_finding_kind(demo):
    counts = finding_counts()
    assert {slug for slug, n in counts.items() if n == 0} == set()
    assert set(counts) == {kind.slug for kind in finding_kinds()}


def test_every_demo_row_passes_the_models_own_rules(demo):
    for model in (Component, Image, Instance):
        for obj in model.objects.all():
            obj.full_clean()


def test_demo_immutable_components_run_their_current_image(demo):
    immutable = Component.objects.filter(mode=Mode.IMMUTABLE)
    assert immutable.exists()
    assert not immutable.filter(current_image__isnull=True).exists()
    assert not Component.objects.filter(mode=Mode.BASTION, images__isnull=False).exists()


def test_demo_user_can_log_in(demo, client):
    assert client.login(username=settings.DEMO_USERNAME, password=settings.DEMO_PASSWORD)


def test_demo_user_can_still_log_in_after_a_reload(demo, client):
    _load()
    assert get_user_model().objects.filter(username=settings.DEMO_USERNAME).count() == 1
    assert client.login(username=settings.DEMO_USERNAME, password=settings.DEMO_PASSWORD)


def test_demo_user_with_a_wrong_password_cannot_log_in(demo, client):
    assert not client.login(username=settings.DEMO_USERNAME, password="not-the-password")
