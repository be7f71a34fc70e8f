"""/api/v1/findings/: the estate's violations of the principles, filtered and paginated."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from estate.core.findings import finding_kinds
from tests.factories import (
    BastionComponentFactory,
    ImageFactory,
    ImmutableComponentFactory,
    InstanceFactory,
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/findings/"
FIELDS = {"kind", "severity", "message", "advice", "object_type", "object_id", "component_id", "url"}
SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


def assert_error(response, status: int, *fields: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"detail", "errors"}
    assert body["detail"]
    for field in fields:
        assert field in body["errors"], body
    return body


@pytest.fixture
def estate():
    hands_on = ImmutableComponentFactory(name="admin-ui", ssh_enabled=True)
    quiet = ImmutableComponentFactory(name="batch", heartbeat_period_seconds=None)
    local = ImmutableComponentFactory(name="uploads", local_state="files in progress under /tmp")
    tainted = InstanceFactory(external_id="i-tainted", tainted=True, taint_reason="hotfix over ssh")
    old = InstanceFactory(external_id="i-old", launched_at=timezone.now() - timedelta(days=90))
    drift = drifting_instance()
    clean = ImmutableComponentFactory(name="clean")
    database = BastionComponentFactory(name="orders-db")
    return {
        "hands_on": hands_on,
        "quiet": quiet,
        "local": local,
        "tainted": tainted,
        "old": old,
        "drift": drift,
        "clean": clean,
        "database": database,
    }


def drifting_instance():
    """An instance still on an older image than its component's current one."""
    old = ImageFactory()
    current = ImageFactory(component=old.component)
    old.component.current_image = current
    old.component.save()
    return InstanceFactory(component=old.component, image=old)


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def keys(rows: list[dict]) -> set[tuple[str, str, int]]:
    return {(row["kind"], row["object_type"], row["object_id"]) for row in rows}


def test_lists_every_finding_with_its_fields(api, estate):
    rows = results(api.get(f"{URL}?page_size=1000"))
    for row in rows:
        assert set(row) >= FIELDS
        assert row["message"]
        assert row["advice"]
    assert keys(rows) >= {
        ("immutable-hands-on", "component", estate["hands_on"].pk),
        ("no-telemetry", "component", estate["quiet"].pk),
        ("immutable-local-state", "component", estate["local"].pk),
        ("tainted-instance", "instance", estate["tainted"].pk),
        ("instance-too-old", "instance", estate["old"].pk),
        ("image-drift", "instance", estate["drift"].pk),
    }
    clean = [row for row in rows if row["component_id"] == estate["clean"].pk]
    assert clean == []


def test_a_finding_points_at_its_object_and_component(api, estate):
    rows = results(api.get(f"{URL}?kind=tainted-instance"))
    instance = estate["tainted"]
    assert rows == [
        {
            **rows[0],
            "kind": "tainted-instance",
            "severity": "critical",
            "object_type": "instance",
            "object_id": instance.pk,
            "component_id": instance.component_id,
            "url": instance.get_absolute_url(),
        }
    ]
    assert "hotfix over ssh" in rows[0]["message"]
    hands_on = results(api.get(f"{URL}?kind=immutable-hands-on"))
    assert hands_on[0]["component_id"] == hands_on[0]["object_id"] == estate["hands_on"].pk
    assert hands_on[0]["url"] == estate["hands_on"].get_absolute_url()
    assert "SSH" in hands_on[0]["message"]


def test_most_severe_first(api, estate):
    rows = results(api.get(f"{URL}?page_size=1000"))
    ranks = [SEVERITY_RANK[row["severity"]] for row in rows]
    assert ranks == sorted(ranks)
    assert {"critical", "warning", "info"} <= {row["severity"] for row in rows}


@pytest.mark.parametrize("severity", ["critical", "warning", "info"])
def test_filter_by_severity(api, estate, severity):
    rows = results(api.get(f"{URL}?severity={severity}&page_size=1000"))
    assert rows
    assert {row["severity"] for row in rows} == {severity}


def test_filter_by_severity_keeps_the_right_findings(api, estate):
    critical = keys(results(api.get(f"{URL}?severity=critical&page_size=1000")))
    assert ("immutable-hands-on", "component", estate["hands_on"].pk) in critical
    assert ("tainted-instance", "instance", estate["tainted"].pk) in critical
    assert ("no-telemetry", "component", estate["quiet"].pk) not in critical


def test_filter_by_kind(api, estate):
    rows = results(api.get(f"{URL}?kind=no-telemetry"))
    assert keys(rows) == {("no-telemetry", "component", estate["quiet"].pk)}
    assert api.get(f"{URL}?kind=no-telemetry").json()["count"] == 1


def test_filter_by_component(api, estate):
    rows = results(api.get(f"{URL}?component={estate['tainted'].component_id}"))
    assert ("tainted-instance", "instance", estate["tainted"].pk) in keys(rows)
    assert {row["component_id"] for row in rows} == {estate["tainted"].component_id}
    assert results(api.get(f"{URL}?component={estate['clean'].pk}&kind=no-telemetry")) == []


def test_filters_combine(api, estate):
    rows = results(api.get(f"{URL}?severity=warning&component={estate['local'].pk}"))
    assert keys(rows) == {("immutable-local-state", "component", estate["local"].pk)}
    assert results(api.get(f"{URL}?severity=critical&kind=no-telemetry")) == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("severity=bad", "severity"),
        ("severity=CRITICAL", "severity"),
        ("kind=no-such-kind", "kind"),
        ("component=abc", "component"),
        ("component=0", "component"),
        ("page=0", "page"),
        ("page=abc", "page"),
        ("page=-1", "page"),
    ],
)
def test_invalid_parameters_are_400_naming_the_field(api, estate, query, field):
    assert_error(api.get(f"{URL}?{query}"), 400, field)


def test_pagination(api):
    quiet = [ImmutableComponentFactory(heartbeat_period_seconds=None) for _ in range(5)]
    first = api.get(f"{URL}?kind=no-telemetry&page_size=2").json()
    assert first["count"] == 5
    assert len(first["results"]) == 2
    assert first["previous"] is None
    assert "page=2" in first["next"]
    assert "kind=no-telemetry" in first["next"]
    second = api.get(first["next"]).json()
    assert "page=3" in second["next"]
    assert second["previous"]
    last = api.get(second["next"]).json()
    assert len(last["results"]) == 1
    assert last["next"] is None
    assert "page=2" in last["previous"]
    seen = [row["object_id"] for page in (first, second, last) for row in page["results"]]
    assert sorted(seen) == sorted(c.pk for c in quiet)


def test_pages_across_kinds_cover_every_finding_once(api, estate):
    ImmutableComponentFactory(heartbeat_period_seconds=None, ssh_enabled=True)
    everything = api.get(f"{URL}?page_size=1000").json()
    seen, url = [], f"{URL}?page_size=2"
    while url:
        page = api.get(url).json()
        assert page["count"] == everything["count"]
        seen.extend((row["kind"], row["object_id"]) for row in page["results"])
        url = page["next"]
    assert seen == [(row["kind"], row["object_id"]) for row in everything["results"]]
    assert len(set(seen)) == everything["count"]


def test_kinds_lists_every_registered_kind_with_its_count(api, estate):
    response = api.get(f"{URL}kinds/")
    assert response.status_code == 200
    rows = response.json()
    assert [row["slug"] for row in rows] == [kind.slug for kind in finding_kinds()]
    for row in rows:
        assert {"slug", "title", "severity", "advice", "count"} <= set(row)
        assert row["count"] == api.get(f"{URL}?kind={row['slug']}").json()["count"]
    counts = {row["slug"]: row["count"] for row in rows}
    assert counts["immutable-hands-on"] == 1
    assert counts["tainted-instance"] == 1
    assert counts["instance-too-old"] == 1
    assert counts["image-drift"] == 1


def test_viewer_reads_findings(viewer_api, estate):
    assert viewer_api.get(URL).status_code == 200
    assert viewer_api.get(f"{URL}kinds/").status_code == 200


def test_findings_query_count_does_not_grow_with_the_estate(api):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = api.get(f"{URL}?page_size=1000")
        assert response.status_code == 200
        return len(captured.captured_queries)

    def add(n: int):
        for _ in range(n):
            ImmutableComponentFactory(ssh_enabled=True, local_state="x", heartbeat_period_seconds=None)
            InstanceFactory(tainted=True, taint_reason="x", launched_at=timezone.now() - timedelta(days=90))
            drifting_instance()

    add(3)
    small = queries()
    add(27)
    assert small == queries()


def test_the_schema_describes_the_paginated_list_and_the_plain_kinds(api):
    """The list answers {count, next, previous, results}; the schema said a bare array (kinds is one)."""
    schema = api.get("/api/schema/?format=json").json()
    listed = schema["paths"]["/api/v1/findings/"]["get"]["responses"]["200"]["content"]["application/json"]
    assert listed["schema"] == {"$ref": "#/components/schemas/PaginatedFindingList"}
    assert set(schema["components"]["schemas"]["PaginatedFindingList"]["properties"]) >= {"count", "results"}
    kinds = schema["paths"]["/api/v1/findings/kinds/"]["get"]["responses"]["200"]["content"]["application/json"]
    assert kinds["schema"]["type"] == "array"
