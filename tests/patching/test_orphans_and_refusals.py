"""Issue 15: a component in a patch window cannot be deleted from under it (item 6), a window over no
component is nobody's to touch (item 6), and a refused occurrence action writes nothing (item 8)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from estate.access import roles
from estate.access.models import AccessScope
from estate.inventory.models import Component
from estate.patching import services
from estate.patching.models import Occurrence, PatchWindow
from tests.conftest import token_client, user_with_role
from tests.factories import TeamFactory
from tests.patching.conftest import NOW, make_window

TOMORROW = NOW + timedelta(days=1)


@pytest.fixture
def weekly(now, db1):
    return make_window([db1], TOMORROW, rrule="FREQ=WEEKLY", title="Orders weekly")


@pytest.fixture
def own_team_operator(db):
    """An operator limited to a team that owns none of the components the tests plan."""
    operator = user_with_role("op-own", roles.OPERATOR)
    AccessScope.objects.create(user=operator).teams.add(TeamFactory(slug="own"))
    return operator


# --- a component a window covers ------------------------------------------------------------


def test_deleting_a_component_in_a_window_is_a_409_naming_the_window(api, weekly, db1):
    response = api.delete(f"/api/v1/components/{db1.pk}/")
    assert response.status_code == 409
    assert "remove it from patch window “Orders weekly” first" in response.json()["detail"]
    assert Component.objects.filter(pk=db1.pk).exists()
    assert list(weekly.components.all()) == [db1]


def test_deleting_a_component_in_a_window_from_the_page_says_why(now, admin_client, weekly, db1):
    response = admin_client.post(f"/components/{db1.pk}/delete/", follow=True)
    assert response.status_code == 200
    assert "remove it from patch window “Orders weekly” first" in response.content.decode()
    assert Component.objects.filter(pk=db1.pk).exists()


def test_a_component_taken_out_of_its_windows_can_be_deleted(api, weekly, db1):
    weekly.delete()
    assert api.delete(f"/api/v1/components/{db1.pk}/").status_code == 204


def test_a_window_cannot_be_saved_over_no_component(weekly):
    with pytest.raises(ValidationError) as refused:
        services.window_save(window=weekly, data={"components": []})
    assert "components" in refused.value.message_dict
    assert weekly.components.count() == 1


def test_a_window_over_no_component_belongs_to_the_whole_estate(weekly):
    PatchWindow.components.through.objects.filter(patchwindow=weekly).delete()  # as an old delete left it
    assert weekly.scope_targets() is None


@pytest.mark.parametrize("action", ["pause", "delete"])
def test_a_limited_operator_cannot_pause_or_delete_a_window_over_no_component(weekly, own_team_operator, action):
    PatchWindow.components.through.objects.filter(patchwindow=weekly).delete()
    client = token_client(own_team_operator)
    if action == "pause":
        response = client.post(f"/api/v1/patch-windows/{weekly.pk}/pause/")
    else:
        response = client.delete(f"/api/v1/patch-windows/{weekly.pk}/")
    assert response.status_code == 403
    weekly.refresh_from_db()
    assert weekly.paused is False


# --- a refused occurrence action ------------------------------------------------------------


def _feed_etag(feed) -> str:
    return Client().get(f"/patching/feed/{feed.secret}.ics")["ETag"]


@pytest.mark.parametrize("action", ["start", "skip", "cancel", "tick"])
def test_a_refused_occurrence_action_stores_no_row_and_keeps_the_feeds_etag(
    weekly, own_team_operator, admin_user, action
):
    feed = services.feed_token_create(user=admin_user, name="All", filters={})
    etag = _feed_etag(feed)
    key = f"{weekly.pk}-{int(TOMORROW.timestamp())}"
    response = token_client(own_team_operator).post(f"/api/v1/occurrences/{key}/{action}/", {}, format="json")
    assert response.status_code == 403
    assert not Occurrence.objects.exists()
    assert _feed_etag(feed) == etag


def test_a_refused_occurrence_action_on_the_page_stores_no_row(now, weekly, own_team_operator, client):
    client.force_login(own_team_operator)
    key = f"{weekly.pk}-{int(TOMORROW.timestamp())}"
    response = client.post(f"/patching/occurrences/{key}/start/")
    assert response.status_code == 403
    assert not Occurrence.objects.exists()


def test_an_action_refused_for_the_occurrences_state_stores_no_row_either(api, weekly):
    key = f"{weekly.pk}-{int(TOMORROW.timestamp())}"
    response = api.post(f"/api/v1/occurrences/{key}/complete/", {}, format="json")  # still planned
    assert response.status_code == 409
    assert not Occurrence.objects.exists()
