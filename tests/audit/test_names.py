"""The audit trail reads as names: the ids of related rows in a diff become those rows' names, looked
up once per related model for the whole page; each event is one line whose diff unfolds."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from estate.audit.choices import AuditAction
from tests.audit.factories import AuditEventFactory
from tests.factories import EnvironmentFactory, ImmutableComponentFactory, TagFactory, TeamFactory
from tests.html_text import parse

pytestmark = pytest.mark.django_db
LIST = reverse("audit_list")


def _events(response) -> list:
    return parse(response.content).find_all(data_testid="audit-event")


def test_ids_in_a_diff_are_shown_as_names(client, auditor):
    client.force_login(auditor)  # first: the log-in is an event, older than the ones below
    component = ImmutableComponentFactory(name="orders-api")
    staging, production = (
        EnvironmentFactory(name="staging", slug="staging"),
        EnvironmentFactory(name="prod", slug="prod"),
    )
    red, blue = TagFactory(name="red"), TagFactory(name="blue")
    AuditEventFactory(
        object_type="inventory.component", object_id=str(component.pk), object_repr="orders-api",
        changes={"environment": [staging.pk, production.pk], "tags": [[red.pk], [red.pk, blue.pk, 99999]]},
    )  # fmt: skip
    newest = _events(client.get(LIST))[0]

    diff = newest.find("details", data_testid="audit-diff")
    assert diff.find(data_testid="audit-summary").text == "changed environment, tags"
    cells = [td.text for td in diff.find_all("td")]
    assert cells == ["environment", "staging", "→", "prod", "tags", "red", "→", "red, blue, #99999 (deleted)"]
    assert str(staging.pk) not in " ".join(cells[:4])


def test_a_one_field_change_reads_in_its_summary(client, auditor):
    client.force_login(auditor)  # first: the log-in is an event, older than the ones below
    team = TeamFactory(name="payments")
    component = ImmutableComponentFactory(name="ledger", team=None)
    AuditEventFactory(object_type="inventory.component", object_id=str(component.pk),
                      changes={"team": [None, team.pk]})  # fmt: skip
    summary = _events(client.get(LIST))[0].find(data_testid="audit-summary")
    assert summary.text == "team: — → payments"


def test_a_create_folds_its_snapshot(client, auditor):
    client.force_login(auditor)  # first: the log-in is an event, older than the ones below
    env = EnvironmentFactory(name="Live", slug="live")
    AuditEventFactory(action=AuditAction.CREATE, changes={"name": "new-api", "environment": env.pk, "slug": "new-api",
                                                          "description": "", "desired_instances": 2})  # fmt: skip
    diff = _events(client.get(LIST))[0].find("details", data_testid="audit-diff")
    assert diff.find(data_testid="audit-summary").text == "set name, slug, environment, desired_instances"
    assert "Live" in diff.text


def test_component_history_panel_shows_names_too(client, auditor):
    client.force_login(auditor)  # first: the log-in is an event, older than the ones below
    component = ImmutableComponentFactory()
    staging = EnvironmentFactory(name="staging", slug="staging")
    AuditEventFactory(object_type="inventory.component", object_id=str(component.pk),
                      changes={"environment": [staging.pk, component.environment_id]})  # fmt: skip
    panel = parse(client.get(component.get_absolute_url()).content).find(data_testid="history-panel")
    assert f"environment: staging → {component.environment.name}" in panel.text


def test_names_cost_one_query_per_related_model_whatever_the_page_holds(client, auditor):
    client.force_login(auditor)  # first: the log-in is an event, older than the ones below

    def add(n):
        for _ in range(n):
            a, b = (EnvironmentFactory(name=f"env-{uuid.uuid4().hex[:8]}", slug=uuid.uuid4().hex[:12]) for _ in "ab")
            team = TeamFactory()
            AuditEventFactory(changes={"environment": [a.pk, b.pk], "team": [None, team.pk]})

    add(2)
    with CaptureQueriesContext(connection) as few:
        page = client.get(LIST)
    assert "changed environment, team" in page.content.decode()
    add(30)
    with CaptureQueriesContext(connection) as many:
        page = client.get(LIST)
    assert len(_events(page)) == 33  # 32 changes and the auditor's log-in
    assert len(many) == len(few)
