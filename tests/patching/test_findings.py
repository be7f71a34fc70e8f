"""Patching's finding kinds and the panel on the component page."""

from __future__ import annotations

from datetime import timedelta

from estate.core.findings import finding_counts, finding_list, findings_per_component
from estate.patching import services
from estate.patching.models import Occurrence
from tests.factories import BastionComponentFactory, ImmutableComponentFactory
from tests.patching.conftest import NOW, make_freeze, make_window


def _messages(kind):
    return [f.message for f in finding_list(kind=kind)[1]]


def test_new_bastion_is_not_late_yet(now, db1):
    assert finding_counts(kind="patch-cadence-overdue") == {"patch-cadence-overdue": 0}


def test_bastion_without_a_window_in_its_cadence_is_a_finding(now, db1, time_machine):
    time_machine.move_to(NOW + timedelta(days=31), tick=False)
    assert _messages("patch-cadence-overdue") == [
        f"orders-db ({db1.environment}) is patched every 30 days: no completed patch window in the last 30 days "
        "and no window planned in the next 30 days."
    ]
    window = make_window([db1], NOW + timedelta(days=32))
    assert "no window planned" not in _messages("patch-cadence-overdue")[0]
    occurrence = services.occurrence_start(occurrence=services.occurrence_materialise(window, window.start))
    services.occurrence_close(occurrence=occurrence)
    make_window([db1], NOW + timedelta(days=50))
    assert finding_counts(kind="patch-cadence-overdue") == {"patch-cadence-overdue": 0}


def test_window_beyond_the_cadence_does_not_count(now, db1, time_machine):
    time_machine.move_to(NOW + timedelta(days=31), tick=False)
    make_window([db1], NOW + timedelta(days=80))
    assert "no window planned in the next 30 days" in _messages("patch-cadence-overdue")[0]


def test_old_bastion_never_patched_is_a_finding_until_an_occurrence_completes(now, db1, time_machine):
    window = make_window([db1], NOW + timedelta(days=1), rrule="FREQ=WEEKLY")
    time_machine.move_to(NOW + timedelta(days=40), tick=False)
    assert "no completed patch window in the last 30 days" in _messages("patch-cadence-overdue")[0]
    start = NOW + timedelta(days=36)
    occurrence = services.occurrence_start(occurrence=services.occurrence_materialise(window, start))
    services.occurrence_close(occurrence=occurrence)
    assert Occurrence.objects.get().status == "completed"
    assert finding_counts(kind="patch-cadence-overdue")["patch-cadence-overdue"] == 0


def test_freeze_added_after_a_window_shows_as_a_conflict_finding(now, db1):
    make_window([db1], NOW + timedelta(days=1), title="Orders patch")
    make_freeze(NOW, NOW + timedelta(days=2), name="Late freeze")
    (message,) = _messages("patch-window-conflict")
    assert "“Orders patch” takes orders-db down" in message and "change freeze" in message
    assert findings_per_component([db1.pk])[db1.pk] == 1


def test_immutable_components_are_not_cadence_findings(now, service):
    assert finding_counts(kind="patch-cadence-overdue")["patch-cadence-overdue"] == 0


def test_component_page_shows_upcoming_occurrences_and_blast_radius(now, client, admin_user, db1):
    ImmutableComponentFactory(name="orders-api").depends_on.set([db1])
    make_window([db1], NOW + timedelta(days=1), title="Orders weekly", rrule="FREQ=WEEKLY")
    client.force_login(admin_user)
    page = client.get(f"/components/{db1.pk}/").content.decode()
    assert 'data-testid="patching-panel"' in page
    assert page.count("Orders weekly") >= 3
    assert "orders-api" in page


def test_component_page_of_an_immutable_component_has_no_patching_panel(now, client, admin_user, service):
    client.force_login(admin_user)
    assert 'data-testid="patching-panel"' not in client.get(f"/components/{service.pk}/").content.decode()


def test_panel_queries_are_bounded(now, client, admin_user, db1, django_assert_max_num_queries):
    for i in range(5):
        make_window([db1, BastionComponentFactory()], NOW + timedelta(days=1, hours=2 * i), rrule="FREQ=WEEKLY")
    client.force_login(admin_user)
    # 45: the four deadline finding kinds (one count each) and the deadlines card (one) came after 40.
    with django_assert_max_num_queries(45):
        assert client.get(f"/components/{db1.pk}/").status_code == 200
