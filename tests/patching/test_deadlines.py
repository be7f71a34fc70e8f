"""Deadlines set by others: the proposal (first free slot), accepting it once, the end-of-life table, the findings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from estate.audit.models import AuditEvent
from estate.core.findings import finding_list
from estate.patching import deadlines
from estate.patching.choices import DeadlineSource
from estate.patching.models import Deadline, EngineEndOfLife, PatchWindow
from tests.factories import BastionComponentFactory
from tests.patching.conftest import make_freeze, make_window

DAY = timedelta(days=1)
TUESDAY_2AM = datetime(2027, 3, 2, 2, 0, tzinfo=UTC)  # the first candidate after NOW (Monday 12:00)


def vendor(component, *, due, action="system-update", source=DeadlineSource.RDS) -> Deadline:
    found = deadlines.VendorAction(source=source, action=action, auto_applied_after=due, description="OS update")
    deadlines.vendor_deadlines_replace(read={component.pk: [found]}, sources=[source])
    row = Deadline.objects.get(component=component, action=action)
    deadlines.proposals_refresh([row])
    return row


def messages_of(slug: str) -> list[str]:
    return [f.message for f in finding_list(kind=slug)[1]]


# --- the proposal -----------------------------------------------------------------------------------


def test_the_proposal_is_the_first_slot_and_the_finding_names_it(now, db1):
    deadline = vendor(db1, due=now + 30 * DAY)

    assert (deadline.proposed_start, deadline.proposed_end) == (TUESDAY_2AM, TUESDAY_2AM + timedelta(hours=1))
    [message] = messages_of("vendor-maintenance-pending")
    assert message == (
        "AWS will apply system-update to orders-db on 2027-03-31 (in 30 days) unless you do. "
        "Proposed window: 2027-03-02 02:00 UTC (60 min)."
    )


def test_a_freeze_over_the_first_slots_moves_the_proposal_after_it(now, db1):
    make_freeze(now, datetime(2027, 3, 5, 0, 0, tzinfo=UTC), name="Quarter close")

    deadline = vendor(db1, due=now + 30 * DAY)

    assert deadline.proposed_start == datetime(2027, 3, 5, 2, 0, tzinfo=UTC)


def test_the_proposal_keeps_clear_of_a_cluster_mate_and_follows_the_components_time_of_day(now, cluster_pair):
    primary, replica = cluster_pair
    make_window([replica], TUESDAY_2AM, title="Replica patch")  # a one-off on the first candidate
    make_window([primary], datetime(2027, 3, 10, 3, 30, tzinfo=UTC), title="Primary later")  # its time of day

    deadline = vendor(primary, due=now + 30 * DAY)

    assert deadline.proposed_start == datetime(2027, 3, 2, 3, 30, tzinfo=UTC)  # 03:30, clear of 02:00-03:00


def test_no_free_slot_before_the_deadline_is_said_in_the_finding_and_accept_refuses(now, db1, api):
    make_freeze(now, now + 20 * DAY, name="Peak season")

    deadline = vendor(db1, due=now + 10 * DAY)
    refused = api.post(reverse("deadline-accept", args=[deadline.pk]))

    assert deadline.proposed_start is None
    assert "No free slot before the deadline" in deadline.proposal_note
    [message] = messages_of("vendor-maintenance-soon")
    assert message.endswith(deadline.proposal_note)
    assert refused.status_code == 409 and refused.json()["detail"] == deadline.proposal_note
    assert PatchWindow.objects.count() == 0


# --- accepting --------------------------------------------------------------------------------------


def test_accept_creates_exactly_one_window_and_a_second_accept_is_refused(now, db1, api):
    deadline = vendor(db1, due=now + 30 * DAY)
    url = reverse("deadline-accept", args=[deadline.pk])

    first = api.post(url)
    second = api.post(url)

    assert first.status_code == 201, first.content
    window = PatchWindow.objects.get()
    assert (first.json()["id"], window.start, list(window.components.all())) == (window.pk, TUESDAY_2AM, [db1])
    assert second.status_code == 409
    assert "already accepted" in second.json()["detail"]
    assert PatchWindow.objects.count() == 1
    deadline.refresh_from_db()
    assert deadline.window == window
    assert AuditEvent.objects.filter(object_type__endswith="deadline", object_id=str(deadline.pk)).count() == 1
    assert messages_of("vendor-maintenance-pending") == []  # planned: no longer a finding


def test_accept_of_a_slot_taken_meanwhile_is_refused_and_saves_nothing(now, db1, api):
    deadline = vendor(db1, due=now + 30 * DAY)
    make_freeze(TUESDAY_2AM - DAY, TUESDAY_2AM + DAY, name="Late freeze")  # after the proposal was searched

    answer = api.post(reverse("deadline-accept", args=[deadline.pk]))

    assert answer.status_code == 409
    assert "Late freeze" in answer.json()["detail"]
    assert PatchWindow.objects.count() == 0


def test_the_api_lists_deadlines_with_their_proposal(now, db1, viewer_api):
    vendor(db1, due=now + 30 * DAY)

    [row] = viewer_api.get(reverse("deadline-list"), {"component": db1.pk}).json()["results"]

    assert (row["action"], row["source"], row["proposal"]["start"]) == ("system-update", "rds", "2027-03-02T02:00:00Z")
    assert viewer_api.get(reverse("deadline-list"), {"component": "1.5"}).status_code == 400
    assert viewer_api.post(reverse("deadline-accept", args=[row["id"]])).status_code == 403


def test_the_component_page_offers_accept_and_edit_and_accept_in_one_click(now, db1, client, admin_user):
    deadline = vendor(db1, due=now + 30 * DAY)
    client.force_login(admin_user)

    page = client.get(db1.get_absolute_url()).content.decode()
    form = client.get(reverse("patch_window_create"), {"deadline": deadline.pk}).content.decode()
    accepted = client.post(reverse("deadline_accept", args=[deadline.pk]), follow=True).content.decode()

    assert 'data-testid="accept-proposal"' in page and f"?deadline={deadline.pk}" in page
    assert 'value="2027-03-02T02:00"' in form and "system-update on orders-db" in form
    assert "planned for 2027-03-02 02:00 UTC" in accepted
    assert PatchWindow.objects.count() == 1


def test_a_window_saved_from_edit_first_answers_the_deadline(now, db1, client, admin_user):
    deadline = vendor(db1, due=now + 30 * DAY)
    client.force_login(admin_user)
    form = {"title": "OS update, our way", "components": [db1.pk], "start": "2027-03-03T04:00",
            "duration_minutes": "90", "time_zone": "UTC", "rrule": "", "change_kind": "os_patch",
            "impact_kind": "failover_errors"}  # fmt: skip

    saved = client.post(f"{reverse('patch_window_create')}?deadline={deadline.pk}", form)

    window = PatchWindow.objects.get()
    assert saved.status_code == 302 and saved["Location"] == deadline.get_absolute_url()
    deadline.refresh_from_db()
    assert (deadline.window, window.start) == (window, datetime(2027, 3, 3, 4, 0, tzinfo=UTC))
    assert client.post(reverse("deadline_accept", args=[deadline.pk])).status_code == 302
    assert PatchWindow.objects.count() == 1  # accepting afterwards is refused: nothing duplicated


# --- sets replaced as the vendor reports them ------------------------------------------------------------


def test_vendor_actions_are_replaced_set_wise(now, db1):
    vendor(db1, due=now + 30 * DAY)
    later = deadlines.VendorAction(source=DeadlineSource.RDS, action="system-update", auto_applied_after=now + 40 * DAY)
    other = deadlines.VendorAction(source=DeadlineSource.RDS, action="db-upgrade", forced_apply_date=now + 9 * DAY)
    no_date = deadlines.VendorAction(source=DeadlineSource.RDS, action="ca-certificate-rotation")

    counts = deadlines.vendor_deadlines_replace(read={db1.pk: [later, other, no_date]}, sources=[DeadlineSource.RDS])

    assert counts == {"created": 1, "changed": 1, "gone": 0}
    assert {(d.action, d.due) for d in Deadline.objects.all()} == {
        ("system-update", now + 40 * DAY),
        ("db-upgrade", now + 9 * DAY),
    }
    assert deadlines.vendor_deadlines_replace(read={db1.pk: []}, sources=[DeadlineSource.RDS])["gone"] == 2


# --- the end-of-life table ------------------------------------------------------------------------------

GOOD = """\
- {engine: postgresql, name: PostgreSQL, version: "12", end_of_life: 2024-11-21, source: "https://www.postgresql.org/support/versioning/"}
- {engine: postgresql, name: PostgreSQL, version: "16", end_of_life: 2027-05-01, source: "https://www.postgresql.org/support/versioning/"}
"""


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        (GOOD + '- {engine: postgres, name: P, version: "13", end_of_life: 2025-11-13, source: "https://x.org/"}\n',
         "line 3, engine: “postgres” is not an inventory engine"),
        (GOOD + '- {engine: mysql, name: MySQL, version: 8.0, end_of_life: 2026-04-30, source: "https://x.org/"}\n',
         "line 3, version: a quoted version"),
        (GOOD + '- {engine: mysql, name: MySQL, version: "8.0", end_of_life: soon, source: "https://x.org/"}\n',
         "line 3, end_of_life: a date"),
        (GOOD + '- {engine: mysql, name: MySQL, version: "8.0", end_of_life: 2026-04-30}\n', "line 3, source: missing"),
        (GOOD + '- {engine: postgresql, name: PG, version: "12", end_of_life: 2024-11-21, source: "https://x.org/"}\n',
         "line 3: postgresql 12 is already on line 1"),
        ("- [unclosed\n", "line 2: not YAML"),
    ],
)  # fmt: skip
def test_a_bad_end_of_life_file_is_refused_whole_naming_the_line(db, text, refusal, tmp_path):
    before = sorted(EngineEndOfLife.objects.values_list("engine", "version"))
    path = tmp_path / "eol.yaml"
    path.write_text(text)

    with pytest.raises(CommandError, match="refused, nothing loaded") as refused:
        call_command("eol", "load", str(path))

    assert refusal in str(refused.value)
    assert sorted(EngineEndOfLife.objects.values_list("engine", "version")) == before


def test_loading_replaces_the_table_and_twice_changes_nothing(db, tmp_path):
    path = tmp_path / "eol.yaml"
    path.write_text(GOOD)

    first = deadlines.eol_load(text=GOOD)
    second = deadlines.eol_load(text=GOOD)

    assert EngineEndOfLife.objects.count() == 2
    assert first["deleted"] > 0  # the shipped rows (loaded at migrate) that GOOD does not hold
    assert (second["created"], second["changed"], second["deleted"]) == (0, 0, 0)
    with pytest.raises(ValidationError):
        deadlines.eol_parse("engine: postgresql\n")


def test_the_shipped_table_loads_and_every_row_names_its_source(db):
    deadlines.eol_load_shipped()

    rows = list(EngineEndOfLife.objects.all())

    assert {"postgresql", "mysql", "redis"} <= {r.engine for r in rows}
    assert all(r.source_url.startswith("https://") for r in rows)


def test_end_of_life_findings_passed_and_coming(now, db):
    deadlines.eol_load(text=GOOD)
    old = BastionComponentFactory(name="legacy-pg", engine_version="12.19")
    soon = BastionComponentFactory(name="main-pg", engine_version="16.4")
    BastionComponentFactory(name="new-pg", engine_version="17.2")  # not in the table
    BastionComponentFactory(name="odd-pg", engine_version="120.1")  # 12 is no prefix of 120

    deadlines.deadlines_refresh(now=now)

    [passed] = messages_of("engine-end-of-life")
    [coming] = messages_of("engine-end-of-life-soon")
    assert passed.startswith("legacy-pg runs PostgreSQL 12, which reached end of life on 2024-11-21.")
    assert coming.startswith("main-pg runs PostgreSQL 16, which reaches end of life on 2027-05-01, in 60 days.")
    assert "Proposed window: 2027-03-02 02:00 UTC" in coming
    assert set(Deadline.objects.values_list("component__name", flat=True)) == {old.name, soon.name}


# --- the findings page does not grow with the deadlines -------------------------------------------------


def test_findings_page_queries_are_the_same_for_1_and_50_deadlines(now, db, client, admin_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(admin_user)
    components = [BastionComponentFactory(name=f"db-{n:02}", patch_cadence_days=None) for n in range(50)]
    found = deadlines.VendorAction(source=DeadlineSource.RDS, action="system-update", auto_applied_after=now + 30 * DAY)
    deadlines.vendor_deadlines_replace(read={components[0].pk: [found]}, sources=[DeadlineSource.RDS])

    with CaptureQueriesContext(connection) as one:
        first = client.get(reverse("finding_list"))
    deadlines.vendor_deadlines_replace(read={c.pk: [found] for c in components}, sources=[DeadlineSource.RDS])
    with CaptureQueriesContext(connection) as fifty:
        second = client.get(reverse("finding_list"))

    assert "AWS will apply system-update to db-00" in first.content.decode()
    assert "AWS will apply system-update to db-00" in second.content.decode()
    assert finding_list(kind="vendor-maintenance-pending")[0] == 50
    assert len(fifty) == len(one)
