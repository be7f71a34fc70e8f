"""Every conflict rule, at the service level; each message names the other window and the time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from estate.core.errors import ApplicationError
from estate.patching import services
from estate.patching.models import PatchWindow
from tests.factories import BastionComponentFactory, ImmutableComponentFactory, SystemFactory
from tests.patching.conftest import NOW, make_freeze, make_window

TOMORROW = NOW + timedelta(days=1)


def test_window_on_an_immutable_component_is_refused_with_rebuild_advice(now, service):
    with pytest.raises(ValidationError) as exc:
        make_window([service], TOMORROW)
    assert "Queue a rebuild" in exc.value.message_dict["components"][0]
    assert "orders-api" in exc.value.message_dict["components"][0]


def test_same_component_overlap_is_refused_naming_the_other_window_and_time(now, db1):
    make_window([db1], TOMORROW, title="Weekly OS patch", rrule="FREQ=WEEKLY")
    with pytest.raises(ApplicationError) as exc:
        make_window([db1], TOMORROW + timedelta(days=7, minutes=30), title="Minor upgrade")
    assert exc.value.status == 409
    assert "“Weekly OS patch”" in exc.value.message
    assert "2027-03-09 12:30 UTC" in exc.value.message
    assert PatchWindow.objects.count() == 1


def test_adjacent_windows_do_not_conflict(now, db1):
    make_window([db1], TOMORROW)
    make_window([db1], TOMORROW + timedelta(hours=1))
    assert PatchWindow.objects.count() == 2


def test_cluster_members_may_not_be_patched_together(now, cluster_pair):
    primary, replica = cluster_pair
    make_window([primary], TOMORROW, title="Primary patch")
    with pytest.raises(ApplicationError) as exc:
        make_window([replica], TOMORROW + timedelta(minutes=15))
    assert "pg-2 and pg-1 are members of one cluster" in exc.value.message
    assert "“Primary patch”" in exc.value.message
    make_window([replica], TOMORROW + timedelta(hours=2))


@pytest.mark.parametrize("scope", ["all", "environment", "system"])
def test_window_in_a_change_freeze_is_refused(now, db1, scope):
    target = {"environment": db1.environment} if scope == "environment" else {}
    target = {"system": db1.system} if scope == "system" else target
    make_freeze(
        TOMORROW - timedelta(hours=1), TOMORROW + timedelta(hours=3), name="Release freeze", scope=scope, **target
    )
    with pytest.raises(ApplicationError) as exc:
        make_window([db1], TOMORROW)
    assert "change freeze “Release freeze”" in exc.value.message


def test_freeze_of_another_system_does_not_apply(now, db1):
    make_freeze(TOMORROW, TOMORROW + timedelta(hours=3), scope="system", system=SystemFactory())
    make_window([db1], TOMORROW)


def test_recurring_window_that_reaches_a_freeze_later_is_refused(now, db1):
    make_freeze(TOMORROW + timedelta(days=14), TOMORROW + timedelta(days=15), name="Quarter end")
    with pytest.raises(ApplicationError, match="Quarter end"):
        make_window([db1], TOMORROW, rrule="FREQ=WEEKLY")


def test_shared_immutable_dependent_is_a_warning_that_does_not_refuse(now, db):
    cache, database = BastionComponentFactory(name="cache"), BastionComponentFactory(name="db")
    ImmutableComponentFactory(name="shop-api").depends_on.set([cache, database])
    make_window([cache], TOMORROW, title="Cache patch")
    window = make_window([database], TOMORROW)
    assert len(window.warnings) == 1
    assert window.warnings[0].severity == "warning"
    assert "shop-api depends on" in window.warnings[0].message
    assert "blast radius doubles" in window.warnings[0].message


def test_skipped_occurrence_frees_its_slot(now, db1):
    weekly = make_window([db1], TOMORROW, rrule="FREQ=WEEKLY")
    occurrence = services.occurrence_materialise(weekly, TOMORROW + timedelta(days=7))
    services.occurrence_skip(occurrence=occurrence)
    make_window([db1], TOMORROW + timedelta(days=7))


def test_paused_window_does_not_conflict_and_resuming_checks_again(now, db1):
    weekly = make_window([db1], TOMORROW, rrule="FREQ=WEEKLY")
    services.window_set_paused(window=weekly, paused=True)
    make_window([db1], TOMORROW + timedelta(days=7))
    with pytest.raises(ApplicationError, match="Overlaps"):
        services.window_set_paused(window=weekly, paused=False)


def test_changing_a_window_is_checked_but_not_against_itself(now, db1):
    window = make_window([db1], TOMORROW)
    services.window_save(window=window, data={"duration": timedelta(hours=2)})
    other = make_window([db1], TOMORROW + timedelta(days=1))
    with pytest.raises(ApplicationError):
        services.window_save(window=other, data={"start": TOMORROW + timedelta(minutes=30)})


def test_moving_an_occurrence_is_checked(now, db1):
    make_window([db1], TOMORROW, title="Fixed")
    daily = make_window([db1], TOMORROW + timedelta(hours=3), rrule="FREQ=DAILY", title="Daily")
    occurrence = services.occurrence_materialise(daily, TOMORROW + timedelta(hours=3))
    with pytest.raises(ApplicationError, match="“Fixed”"):
        services.occurrence_move(occurrence=occurrence, start=TOMORROW)


def test_conflicts_check_endpoint_returns_conflicts_without_saving(now, api, db1, cluster_pair):
    make_window([cluster_pair[0]], TOMORROW, title="Primary")
    make_window([db1], TOMORROW, title="Orders")
    draft = {"components": [db1.pk, cluster_pair[1].pk], "start": TOMORROW.isoformat(), "duration": "01:00:00"}
    response = api.post("/api/v1/patch-windows/conflicts-check/", draft, format="json")
    assert response.status_code == 200
    rules = sorted(c["rule"] for c in response.json())
    assert rules == ["same_cluster", "same_component"]
    assert PatchWindow.objects.count() == 2


def test_api_create_conflict_is_409_with_the_error_shape(now, api, db1):
    make_window([db1], TOMORROW, title="First")
    body = {"title": "Second", "components": [db1.pk], "start": TOMORROW.isoformat(), "duration": "00:30:00"}
    response = api.post("/api/v1/patch-windows/", body, format="json")
    assert response.status_code == 409
    assert "“First”" in response.json()["detail"]
    assert response.json()["errors"]["conflicts"]


def test_api_refuses_an_immutable_component(now, api, service):
    body = {"title": "x", "components": [service.pk], "start": TOMORROW.isoformat(), "duration": "00:30:00"}
    response = api.post("/api/v1/patch-windows/", body, format="json")
    assert response.status_code == 400
    assert "Queue a rebuild" in response.json()["errors"]["components"][0]


def test_a_window_needs_at_least_one_component(now, db):
    with pytest.raises(ValidationError, match="at least one bastion"):
        make_window([], TOMORROW)


def test_a_window_far_in_the_future_is_checked_around_its_own_start(now, db1, settings):
    settings.PATCHING_HORIZON_DAYS = 10
    make_window([db1], TOMORROW, rrule="FREQ=WEEKLY", title="Weekly")
    with pytest.raises(ApplicationError, match="“Weekly”"):
        make_window([db1], TOMORROW + timedelta(days=70))


def test_one_window_over_two_members_of_a_cluster_is_refused(now, cluster_pair):
    primary, replica = cluster_pair
    with pytest.raises(ApplicationError) as refused:
        make_window([primary, replica], TOMORROW)
    assert refused.value.status == 409
    assert "members of one cluster" in str(refused.value.errors)
    assert not PatchWindow.objects.exists()
