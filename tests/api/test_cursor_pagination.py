"""Issue 16: `pagination=cursor` pages a list by key, for scripts reading it in full.

Walking the `next` links gives every row of the list once, in id order, with the same bytes per row as
page numbers give, without counting the list; a saved cursor picks up rows created after it; anything that
is not a cursor this API gave is a 400 naming the parameter.
"""

from __future__ import annotations

import base64
import io
import json

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from estate.audit.models import AuditEvent
from estate.inventory.models import Component, Instance
from tests.api.test_contract import PAGINATED
from tests.factories import ImmutableComponentFactory

pytestmark = pytest.mark.django_db

# Paged by number only: the findings are the registry's answer, not a table's rows.
NUMBERED_ONLY = {"/api/v1/findings/"}
LISTS = [path for path in PAGINATED if "{" not in path and path not in NUMBERED_ONLY]


@pytest.fixture
def demo(db):
    call_command("load_demo", stdout=io.StringIO())


def _walk(api, path: str, query: dict, *, cursor: bool = True) -> list[dict]:
    rows, url, pages = [], None, 0
    while True:
        response = api.get(url) if url else api.get(path, query)
        assert response.status_code == 200, (path, response.content[:300])
        body = response.json()
        assert ("count" not in body) is cursor, path  # counting the list is what cursor paging avoids
        rows += body["results"]
        url, pages = body["next"], pages + 1
        assert pages < 500, path
        if url is None:
            return rows


def _same_rows(a: list[dict], b: list[dict]) -> bool:
    return sorted(json.dumps(row, sort_keys=True) for row in a) == sorted(json.dumps(row, sort_keys=True) for row in b)


def test_walking_next_gives_every_row_once_in_id_order_and_as_page_numbers_write_it(api, demo):
    walked = 0
    for path in LISTS:
        numbered = _walk(api, path, {"page_size": 1000}, cursor=False)
        size = 7 if len(numbered) < 300 else 1000  # the demo's telemetry samples are thousands
        rows = _walk(api, path, {"pagination": "cursor", "page_size": size})
        assert _same_rows(rows, numbered), path
        if rows and "id" in rows[0]:
            ids = [row["id"] for row in rows]
            assert ids == sorted(ids) and len(set(ids)) == len(ids), path
        walked += len(rows) > 7  # lists long enough to need several pages
    assert walked >= 6


def test_a_cursor_keeps_filters_and_pages_back_with_previous(api, demo):
    several = Instance.objects.values("component").annotate(n=Count("pk")).filter(n__gte=2).order_by("component")
    component = several.values_list("component", flat=True).first()
    first = api.get("/api/v1/instances/", {"pagination": "cursor", "page_size": 1, "component": component}).json()
    assert first["previous"] is None and f"component={component}" in first["next"]
    second = api.get(first["next"]).json()
    assert second["results"] and second["results"][0]["component"] == component
    assert second["results"][0]["id"] > first["results"][0]["id"]
    back = api.get(second["previous"]).json()
    assert back["results"] == first["results"]


def test_a_saved_cursor_picks_up_rows_created_after_it_and_skips_none_deleted_meanwhile(api):
    ImmutableComponentFactory.create_batch(5)
    page = api.get("/api/v1/components/", {"pagination": "cursor", "page_size": 2}).json()
    seen = [row["id"] for row in page["results"]]
    page = api.get(page["next"]).json()
    seen += [row["id"] for row in page["results"]]
    cursor = page["next"]
    # Between two requests: the row the cursor points after is deleted and new rows arrive.
    Component.objects.filter(pk=seen[-1]).delete()
    late = ImmutableComponentFactory.create_batch(2)
    rest = _walk(api, cursor, {})
    assert [row["id"] for row in rest] == sorted(set(Component.objects.values_list("pk", flat=True)) - set(seen))
    assert {c.pk for c in late} <= {row["id"] for row in rest}


def test_cursor_pages_read_no_count_and_a_constant_number_of_queries(api):
    ImmutableComponentFactory.create_batch(3)
    AuditEvent.objects.bulk_create([AuditEvent(action="create", object_repr=str(n)) for n in range(30)])

    def queries() -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            assert api.get("/api/v1/audit/", {"pagination": "cursor", "page_size": 20}).status_code == 200
        return [query["sql"] for query in captured.captured_queries]

    few = queries()
    AuditEvent.objects.bulk_create([AuditEvent(action="create", object_repr=str(n)) for n in range(300)])
    many = queries()
    assert len(many) == len(few)
    assert not any("COUNT(" in sql.upper() for sql in many)


def test_page_numbers_count_the_list_without_the_joins_its_rows_show(api):
    """The components' rows show their environment's, system's and team's slugs: the count needs no join."""
    ImmutableComponentFactory.create_batch(3)
    with CaptureQueriesContext(connection) as captured:
        body = api.get("/api/v1/components/", {"page_size": 2}).json()
    assert body["count"] == 3 and len(body["results"]) == 2
    counts = [query["sql"] for query in captured.captured_queries if query["sql"].startswith("SELECT COUNT(*)")]
    assert len(counts) == 1 and "JOIN" not in counts[0].upper(), counts


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"pagination": "cursor", "cursor": "junk"}, "cursor"),
        ({"pagination": "cursor", "cursor": ""}, "cursor"),
        ({"pagination": "cursor", "cursor": _cursor("after:-1")}, "cursor"),
        ({"pagination": "cursor", "cursor": _cursor("after:9223372036854775808")}, "cursor"),  # past a bigint
        ({"pagination": "cursor", "cursor": _cursor("sideways:3")}, "cursor"),
        ({"pagination": "cursor", "cursor": "A" * 5000}, "cursor"),
        ({"pagination": "page", "cursor": _cursor("after:1")}, "cursor"),
        ({"pagination": "keyset"}, "pagination"),
        ({"pagination": "cursor", "page": "2"}, "page"),
        ({"pagination": "cursor", "ordering": "name"}, "ordering"),
        ({"pagination": "cursor", "page_size": "1001"}, "page_size"),
    ],
)
def test_what_is_not_a_cursor_this_api_gave_is_a_400_naming_the_parameter(api, query, named):
    response = api.get("/api/v1/components/", query)
    assert response.status_code == 400, (query, response.content)
    assert named in response.json()["errors"], response.json()


def test_a_cursor_alone_pages_by_cursor_and_the_biggest_key_is_an_empty_page(api):
    ImmutableComponentFactory.create_batch(2)
    body = api.get("/api/v1/components/", {"cursor": _cursor("after:0")}).json()
    assert "count" not in body and len(body["results"]) == 2
    last = api.get("/api/v1/components/", {"cursor": _cursor("after:9223372036854775807")}).json()
    assert last == {"next": None, "previous": None, "results": []}


def test_findings_are_paged_by_number_only_and_say_so(api):
    response = api.get("/api/v1/findings/", {"pagination": "cursor"})
    assert response.status_code == 400 and "pagination" in response.json()["errors"]


def test_the_schema_documents_cursor_paging_and_count_as_absent_with_it(api):
    schema = api.get("/api/schema/", {"format": "json"}).json()
    listing = schema["paths"]["/api/v1/instances/"]["get"]
    names = {parameter["name"]: parameter for parameter in listing["parameters"]}
    assert names["pagination"]["schema"]["enum"] == ["page", "cursor"] and "cursor" in names
    envelope = schema["components"]["schemas"]["PaginatedInstanceList"]
    assert envelope["required"] == ["results"] and "pagination=cursor" in envelope["properties"]["count"]["description"]
    findings = {parameter["name"] for parameter in schema["paths"]["/api/v1/findings/"]["get"]["parameters"]}
    assert "cursor" not in findings


def test_a_page_deeper_than_the_offset_bound_is_a_400_pointing_at_cursor_pages(api):
    ImmutableComponentFactory.create_batch(2)
    deep = api.get("/api/v1/components/", {"page": 101, "page_size": 1000})  # 100,000 rows in
    assert deep.status_code == 400 and "pagination=cursor" in deep.json()["errors"]["page"][0]
    assert api.get("/api/v1/components/", {"page": 100, "page_size": 1000}).status_code == 404  # past the end
    assert api.get("/api/v1/components/", {"page": 2000, "page_size": 50}).status_code == 404
    assert api.get("/api/v1/components/", {"page": 2001, "page_size": 50}).status_code == 400
