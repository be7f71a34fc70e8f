"""/audit/: the global list, its filters, the CSV export, the component's history panel, permissions."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from estate.audit.choices import AuditAction
from tests.audit.factories import AuditEventFactory
from tests.factories import ImmutableComponentFactory
from tests.html_text import parse

LIST = reverse("audit_list")
EXPORT = reverse("audit_export")


def _rows(response) -> list:
    tables = parse(response.content).find_all("table", data_testid="audit-list")
    if not tables:
        return []
    # The rows of the list itself, not those of the small change tables inside them.
    return [row for row in tables[0].find("tbody").children if getattr(row, "tag", None) == "tr"]


def _link(element, text: str):
    links = [a for a in element.find_all("a") if a.text == text]
    return links[0] if links else None


def _csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))


def test_anonymous_is_sent_to_log_in(client, db):
    for url in (LIST, EXPORT):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_user_without_the_permission_is_refused(client, outsider):
    client.force_login(outsider)
    assert client.get(LIST).status_code == 403
    assert client.get(EXPORT).status_code == 403


def test_nav_shows_audit_only_to_who_may_read_it(client, auditor, outsider):
    client.force_login(outsider)
    assert LIST not in client.get(reverse("dashboard")).content.decode()
    client.force_login(auditor)
    assert f'href="{LIST}"' in client.get(reverse("dashboard")).content.decode()


def test_list_shows_newest_first_with_who_where_what_and_changes(client, auditor):
    component = ImmutableComponentFactory(name="orders-api")
    AuditEventFactory(at=datetime(2027, 1, 1, tzinfo=UTC), object_repr="older")
    AuditEventFactory(
        at=datetime(2027, 1, 2, tzinfo=UTC),
        actor="bob",
        ip="198.51.100.5",
        via="token:ci",
        object_type="inventory.component",
        object_id=str(component.pk),
        object_repr="orders-api",
        changes={"description": ["before-text", "after-text"]},
    )
    client.force_login(auditor)  # itself an event: a log-in, now (before the two above)
    rows = _rows(client.get(LIST))
    assert len(rows) == 3
    newest = rows[0]
    text = newest.text
    for expected in ("bob", "198.51.100.5", "token:ci", "Changed", "orders-api", "before-text", "after-text"):
        assert expected in text
    assert _link(newest, "orders-api").attrs["href"] == component.get_absolute_url()
    assert newest.find("time").attrs["datetime"].startswith("2027-01-02")
    assert "older" in rows[1].text


def test_deleted_objects_are_not_linked(client, auditor):
    AuditEventFactory(action=AuditAction.DELETE, object_repr="gone-api", changes={"name": "gone-api"})
    client.force_login(auditor)
    row = _rows(client.get(LIST))[0]
    assert _link(row, "gone-api") is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"actor": "bob"}, {"b1"}),
        ({"action": ["delete", "login"]}, {"c1", "d1", "auditor"}),
        ({"object_type": "patching.patchwindow"}, {"c1"}),
        ({"object_type": "inventory.component", "object_id": "7"}, {"a1"}),
        ({"q": "needle"}, {"d1"}),
        ({"since": "2027-01-03T00:00:00Z"}, {"c1", "d1"}),
        ({"until": "2027-01-03T00:00:00Z"}, {"a1", "b1", "auditor"}),
    ],
)
def test_filters(client, api, auditor, query, expected):
    """The page, the API and the export filter alike (the auditor's own log-in, now, is an event too)."""
    AuditEventFactory(object_repr="a1", object_id="7", at=datetime(2027, 1, 1, tzinfo=UTC))
    AuditEventFactory(object_repr="b1", actor="bob", at=datetime(2027, 1, 2, tzinfo=UTC))
    AuditEventFactory(object_repr="c1", action="delete", object_type="patching.patchwindow",
                      at=datetime(2027, 1, 3, tzinfo=UTC))  # fmt: skip
    AuditEventFactory(object_repr="d1", action="login", message="a needle here", at=datetime(2027, 1, 4, tzinfo=UTC))
    client.force_login(auditor)
    shown = {row.find_all("td")[4].text.split()[0] for row in _rows(client.get(LIST, query))}
    assert shown == expected
    listed = api.get("/api/v1/audit/", query).json()["results"]
    assert {e["object_repr"] for e in listed} == expected
    assert {row["object_repr"] for row in _csv(client.get(EXPORT, query))} == expected


def test_empty_state_says_what_to_do(client, auditor):
    client.force_login(auditor)
    page = client.get(LIST, {"actor": "nobody"}).content.decode()
    assert "No event matches" in page


def test_invalid_filter_is_shown_not_a_crash(client, auditor):
    AuditEventFactory()
    client.force_login(auditor)
    response = client.get(LIST, {"since": "yesterday-ish"})
    assert response.status_code == 200
    assert "since" in parse(response.content).find(data_testid="filter-errors").text


def test_list_paginates(client, auditor):
    client.force_login(auditor)
    AuditEventFactory.create_batch(59)
    first = client.get(LIST)
    assert len(_rows(first)) == 50
    assert len(_rows(client.get(LIST, {"page": 2}))) == 10


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_list_and_api_take_a_constant_number_of_queries(client, auditor):
    client.force_login(auditor)
    AuditEventFactory.create_batch(5)
    few_page, few_api = _queries(client, LIST), _queries(client, "/api/v1/audit/")
    AuditEventFactory.create_batch(45, action=AuditAction.DELETE)
    AuditEventFactory.create_batch(5, object_type="operations.operation")
    assert _queries(client, LIST) == few_page
    assert _queries(client, "/api/v1/audit/") == few_api


# --- CSV ----------------------------------------------------------------------------------------


def test_export_is_csv_with_a_header_and_one_line_per_event(client, auditor):
    AuditEventFactory(actor="alice", changes={"engine_version": ["16.4", "16.6"]}, object_repr="orders-db")
    AuditEventFactory(actor="bob")
    client.force_login(auditor)
    response = client.get(EXPORT, {"action": "change"})
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:6] == ["at", "actor", "actor_id", "ip", "via", "action"]
    assert len(rows) == 3
    alice = next(r for r in rows[1:] if r[1] == "alice")
    assert '"engine_version": ["16.4", "16.6"]' in alice[9]


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_export_defuses_spreadsheet_formulas(client, auditor, start):
    AuditEventFactory(object_repr=f'{start}HYPERLINK("http://evil")', message=f"{start}1+1")
    client.force_login(auditor)
    row = _csv(client.get(EXPORT, {"action": "change"}))[0]
    assert row["object_repr"] == f'\'{start}HYPERLINK("http://evil")'
    assert row["message"] == f"'{start}1+1"


def test_export_link_keeps_the_filters(client, auditor):
    client.force_login(auditor)
    page = parse(client.get(LIST, {"actor": "bob"}).content)
    assert page.find(data_testid="audit-export").attrs["href"] == f"{EXPORT}?actor=bob"


# --- the component's history panel and the history links ----------------------------------------------


def test_component_page_shows_its_last_twenty_events(client, auditor):
    component = ImmutableComponentFactory()
    other = ImmutableComponentFactory()
    AuditEventFactory.create_batch(25, object_type="inventory.component", object_id=str(component.pk),
                                   changes={"description": ["x", "mine"]})  # fmt: skip
    AuditEventFactory(object_type="inventory.component", object_id=str(other.pk), object_repr="not-mine")
    client.force_login(auditor)
    panel = parse(client.get(component.get_absolute_url()).content).find(data_testid="history-panel")
    assert len(panel.find_all(class_="list-group-item")) == 20
    assert "not-mine" not in panel.text
    more = _link(panel, "Full history").attrs["href"]
    assert more == f"{LIST}?object_type=inventory.component&object_id={component.pk}"


def test_component_page_hides_the_panel_from_who_may_not_read_the_audit(client, outsider):
    component = ImmutableComponentFactory()
    client.force_login(outsider)
    assert not parse(client.get(component.get_absolute_url()).content).find_all(data_testid="history-panel")


def test_operation_and_window_pages_link_to_their_history(client, admin_user):
    from estate.operations.models import Operation
    from tests.factories import BastionComponentFactory
    from tests.patching.conftest import make_window

    component = ImmutableComponentFactory()
    operation = Operation.objects.create(component=component, kind="rebuild_image")
    from django.utils import timezone

    window = make_window([BastionComponentFactory()], timezone.now() + timedelta(days=1))
    client.force_login(admin_user)
    for url, object_type, pk in (
        (reverse("operation_detail", args=[operation.pk]), "operations.operation", operation.pk),
        (reverse("patch_window_edit", args=[window.pk]), "patching.patchwindow", window.pk),
    ):
        link = parse(client.get(url).content).find(data_testid="history-link")
        assert link.attrs["href"] == f"{LIST}?object_type={object_type}&object_id={pk}"
