"""An ingest token, a personal token and a person's session write only about components in their scope."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from estate.access import roles
from estate.access.models import AccessScope
from estate.audit.choices import AuditAction
from estate.audit.models import AuditEvent
from estate.inventory.models import Instance
from estate.telemetry.models import ComponentTelemetry, Event, Sample, StaleRollup
from tests.conftest import token_client, user_with_role
from tests.factories import ImmutableComponentFactory, IngestTokenFactory, InstanceFactory, SystemFactory, TeamFactory
from tests.telemetry.conftest import URL

pytestmark = pytest.mark.django_db


@pytest.fixture
def ours():
    return ImmutableComponentFactory(team=TeamFactory(slug="ours"))


@pytest.fixture
def theirs():
    component = ImmutableComponentFactory(team=TeamFactory(slug="theirs"))
    InstanceFactory(component=component, external_id="i-theirs")
    return component


def _bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def _every_kind(component, instance: str | None = None) -> list[dict]:
    ref = {"component": component.pk} | ({"instance": instance} if instance else {})
    return [
        {"type": "heartbeat", **ref},
        {"type": "sample", **ref, "name": "cpu", "value": 1},
        {"type": "event", **ref, "kind": "ssh_session", "message": "root from 10.0.0.9"},
    ]


def _nothing_written(component) -> bool:
    return not (
        Sample.objects.filter(component=component).exists()
        or Event.objects.filter(component=component).exists()
        or ComponentTelemetry.objects.filter(component=component, last_heartbeat_at__isnull=False).exists()
        or Instance.objects.filter(component=component, tainted=True).exists()
        or Instance.objects.filter(component=component, last_seen_at__isnull=False).exists()
        or AuditEvent.objects.filter(action="instance_tainted").exists()
        or StaleRollup.objects.exists()
    )


def test_a_team_token_writes_about_its_teams_components(ours):
    token = IngestTokenFactory(teams=[ours.team])
    response = _bearer(token.raw).post(URL, _every_kind(ours), format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["stored"] == {"heartbeats": 1, "samples": 1, "events": 1}


def test_a_team_token_cannot_taint_another_teams_instance(ours, theirs):
    token = IngestTokenFactory(teams=[ours.team])
    batch = [{"type": "heartbeat", "component": ours.pk}, *_every_kind(theirs, "i-theirs")]
    response = _bearer(token.raw).post(URL, batch, format="json")
    assert response.status_code == 403, response.json()
    body = response.json()
    assert "outside the sender's scope" in body["detail"]
    assert sorted(body["errors"]) == ["1", "2", "3"]  # the item about its own component is not refused
    assert all("Outside the sender's scope" in e["component"][0] for e in body["errors"].values())
    assert _nothing_written(theirs) and _nothing_written(ours)  # all or nothing, as for any refused item


def test_a_tokens_refused_batch_is_in_the_audit_trail(ours, theirs):
    token = IngestTokenFactory(teams=[ours.team])
    assert _bearer(token.raw).post(URL, _every_kind(theirs, "i-theirs"), format="json").status_code == 403
    record = AuditEvent.objects.get(action=AuditAction.ACCESS_DENIED)
    assert (record.actor, record.via) == (f"ingest-token:{token.name}", "ingest-token")
    assert "outside the sender's scope" in record.message and record.changes["path"] == URL


def test_a_component_named_by_slug_is_judged_the_same(ours, theirs):
    token = IngestTokenFactory(teams=[ours.team])
    item = {"type": "event", "component": f"{theirs.environment.slug}/{theirs.slug}", "instance": "i-theirs",
            "kind": "package_install"}  # fmt: skip
    assert _bearer(token.raw).post(URL, [item], format="json").status_code == 403
    assert _nothing_written(theirs)


def test_a_system_token_covers_its_systems_components_whatever_their_team(ours, theirs):
    token = IngestTokenFactory(systems=[theirs.system])
    assert _bearer(token.raw).post(URL, _every_kind(theirs, "i-theirs"), format="json").status_code == 201
    assert _bearer(token.raw).post(URL, _every_kind(ours), format="json").status_code == 403


def test_a_token_whose_teams_are_gone_writes_nothing(ours):
    token = IngestTokenFactory(teams=[TeamFactory()])
    token.teams.clear()  # its last team deleted: an empty scope never reads as the whole estate
    assert _bearer(token.raw).post(URL, _every_kind(ours), format="json").status_code == 403
    assert _nothing_written(ours)


def test_an_estate_wide_token_writes_about_every_component(ours, theirs):
    token = IngestTokenFactory(whole_estate=True)
    assert _bearer(token.raw).post(URL, _every_kind(ours) + _every_kind(theirs), format="json").status_code == 201


def test_a_refused_batch_does_not_burn_its_idempotency_key(ours, theirs):
    token = IngestTokenFactory(teams=[ours.team])
    client = _bearer(token.raw)
    assert client.post(URL, _every_kind(theirs), format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 403
    assert client.post(URL, _every_kind(ours), format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 201


@pytest.fixture
def team_admin(ours):
    """An admin (who may add samples) limited to the team `ours`."""
    person = user_with_role("team-admin", roles.ADMIN)
    AccessScope.objects.create(user=person).teams.add(ours.team)
    return person


def test_a_person_sends_telemetry_only_within_their_own_scope(team_admin, ours, theirs):
    client = APIClient()
    client.force_login(team_admin)
    assert client.post(URL, _every_kind(ours), format="json").status_code == 201
    assert client.post(URL, _every_kind(theirs, "i-theirs"), format="json").status_code == 403
    assert _nothing_written(theirs)


def test_a_personal_ingest_token_acts_with_its_owners_scope(team_admin, ours, theirs):
    client = token_client(team_admin, "ingest")
    assert client.post(URL, _every_kind(ours), format="json").status_code == 201
    refused = client.post(URL, _every_kind(theirs, "i-theirs"), format="json")
    assert refused.status_code == 403 and set(refused.json()["errors"]) == {"0", "1", "2"}
    assert _nothing_written(theirs)


def test_an_unlimited_person_writes_about_every_component(api, ours, theirs):
    assert api.post(URL, _every_kind(ours) + _every_kind(theirs, "i-theirs"), format="json").status_code == 201


def test_the_scope_costs_the_same_queries_for_one_item_or_many():
    team = TeamFactory()
    components = [ImmutableComponentFactory(team=team, system=SystemFactory()) for _ in range(20)]
    token = IngestTokenFactory(teams=[team], systems=[SystemFactory()])
    client = _bearer(token.raw)
    small = [{"type": "sample", "component": components[0].pk, "name": "cpu", "value": 1}]
    many = [{"type": "sample", "component": c.pk, "name": f"m{n}", "value": n} for c in components for n in range(10)]
    client.post(URL, [], format="json")  # the token's last_used_at is written once a minute, here
    with CaptureQueriesContext(connection) as one:
        assert client.post(URL, small, format="json").status_code == 201
    with CaptureQueriesContext(connection) as two_hundred:
        assert client.post(URL, many, format="json").status_code == 201
    assert len(two_hundred) == len(one)
