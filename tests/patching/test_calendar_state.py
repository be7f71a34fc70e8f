"""The change calendar (issue 12): OPEN or CLOSED for a component at a moment, the reason and the next
change; and GET /api/v1/calendar/state/ that deploy pipelines ask before they ship."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from estate.patching.choices import FreezeScope
from estate.patching.selectors import CLOSED, OPEN, calendar_state
from tests.conftest import token_client
from tests.factories import EnvironmentFactory, ImmutableComponentFactory, SystemFactory
from tests.patching.conftest import NOW, make_freeze

pytestmark = pytest.mark.django_db

URL = "/api/v1/calendar/state/"
START, END = NOW + timedelta(days=1), NOW + timedelta(days=3)


@pytest.fixture
def cart_api(db):
    return ImmutableComponentFactory(name="cart-api", slug="cart-api")


@pytest.fixture
def black_friday(cart_api):
    return make_freeze(START, END, name="Black Friday")


# --- the rule -------------------------------------------------------------------------------------


def test_open_with_no_freeze_ahead_has_no_next_change(cart_api, now):
    state = calendar_state(cart_api)
    assert (state.state, state.freeze, state.next_change) == (OPEN, None, None)
    assert state.reason == "cart-api is in no change freeze."


def test_open_before_a_freeze_names_it_and_when_it_closes(cart_api, black_friday, now):
    state = calendar_state(cart_api)
    assert (state.state, state.freeze, state.next_change) == (OPEN, None, START)
    assert "the next, “Black Friday”, starts at 2027-03-02 12:00 UTC" in state.reason


def test_closed_from_the_freezes_first_moment_until_its_end(cart_api, black_friday, time_machine):
    for moment in (START, START + timedelta(days=1), END - timedelta(microseconds=1)):
        time_machine.move_to(moment, tick=False)
        state = calendar_state(cart_api)
        assert (state.state, state.freeze, state.next_change) == (CLOSED, black_friday, END), moment
        assert state.reason == "cart-api is in the change freeze “Black Friday” until 2027-03-04 12:00 UTC."


def test_open_again_at_the_freezes_end(cart_api, black_friday, time_machine):
    time_machine.move_to(END, tick=False)
    state = calendar_state(cart_api)
    assert (state.state, state.next_change) == (OPEN, None)


def test_a_moment_can_be_asked_about_without_travelling(cart_api, black_friday, now):
    assert calendar_state(cart_api, START - timedelta(microseconds=1)).state == OPEN
    assert calendar_state(cart_api, START).state == CLOSED


def test_freezes_that_follow_each_other_reopen_after_the_last(cart_api, black_friday, time_machine):
    make_freeze(END - timedelta(hours=1), END + timedelta(days=1), name="Cyber Monday")
    last = make_freeze(END + timedelta(days=1), END + timedelta(days=2), name="Year end")
    time_machine.move_to(START, tick=False)
    state = calendar_state(cart_api)
    assert state.freeze == black_friday and state.next_change == last.end
    assert "further freezes follow, so changes reopen at 2027-03-06 12:00 UTC" in state.reason


def test_the_freeze_that_ends_last_is_the_one_named(cart_api, black_friday, time_machine):
    longer = make_freeze(START, END + timedelta(days=1), name="Long one")
    time_machine.move_to(START, tick=False)
    assert calendar_state(cart_api).freeze == longer


def test_only_freezes_of_its_environment_or_system_close_a_component(cart_api, time_machine):
    other_env = EnvironmentFactory(slug="staging", name="Staging")
    make_freeze(START, END, scope=FreezeScope.ENVIRONMENT, environment=other_env)
    make_freeze(START, END, scope=FreezeScope.SYSTEM, system=SystemFactory())
    time_machine.move_to(START, tick=False)
    assert calendar_state(cart_api).state == OPEN
    mine = make_freeze(START, END, name="Ours", scope=FreezeScope.SYSTEM, system=cart_api.system)
    assert calendar_state(cart_api).freeze == mine
    mine.delete()
    env = make_freeze(START, END, name="Prod", scope=FreezeScope.ENVIRONMENT, environment=cart_api.environment)
    assert calendar_state(cart_api).freeze == env


# --- the endpoint ---------------------------------------------------------------------------------


def test_endpoint_answers_closed_with_the_freeze_by_environment_and_slug(
    viewer_api, cart_api, black_friday, time_machine
):
    time_machine.move_to(START + timedelta(hours=1), tick=False)
    response = viewer_api.get(URL, {"component": "production/cart-api"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["state"] == "CLOSED" and body["component"] == cart_api.pk
    assert body["reason"] == "cart-api is in the change freeze “Black Friday” until 2027-03-04 12:00 UTC."
    assert body["freeze"]["id"] == black_friday.pk and body["freeze"]["name"] == "Black Friday"
    assert body["freeze"]["scope"] == "all" and body["freeze"]["end"] == "2027-03-04T12:00:00Z"
    assert body["next_change"] == "2027-03-04T12:00:00Z"


def test_endpoint_answers_open_with_the_next_change_by_id(viewer_api, cart_api, black_friday, now):
    body = viewer_api.get(URL, {"component": str(cart_api.pk)}).json()
    assert (body["state"], body["freeze"], body["next_change"]) == ("OPEN", None, "2027-03-02T12:00:00Z")


def test_endpoint_answers_for_a_moment_given(viewer_api, cart_api, black_friday, now):
    body = viewer_api.get(URL, {"component": "production/cart-api", "at": "2027-03-03T00:00:00Z"}).json()
    assert body["state"] == "CLOSED" and body["at"] == "2027-03-03T00:00:00Z"
    assert viewer_api.get(URL, {"component": "production/cart-api", "at": "2027-03-05"}).json()["state"] == "OPEN"


@pytest.mark.parametrize(
    "reference", ["999999", "production/nope", "nowhere/cart-api", "9" * 30]
)  # fmt: skip
def test_unknown_component_is_404(viewer_api, cart_api, reference):
    response = viewer_api.get(URL, {"component": reference})
    assert response.status_code == 404, response.json()
    assert "No component" in response.json()["detail"]


@pytest.mark.parametrize(
    "query",
    [{}, {"component": ""}, {"component": "cart-api"}, {"component": "production/"}, {"component": "/cart-api"},
     {"component": "a/b/c"}, {"component": "１２"}, {"component": "production/cart\x00api"},
     {"component": "p/" + "x" * 300}],
)  # fmt: skip
def test_malformed_component_is_400_naming_the_parameter(viewer_api, cart_api, query):
    response = viewer_api.get(URL, query)
    assert response.status_code == 400, response.json()
    assert "component" in response.json()["errors"]


@pytest.mark.parametrize("at", ["yesterday", "2027-13-01T00:00:00Z", "0001-01-01T00:00:00-05:00", "9999-12-31T23:00Z"])
def test_malformed_or_out_of_range_moment_is_400(viewer_api, cart_api, now, at):
    response = viewer_api.get(URL, {"component": "production/cart-api", "at": at})
    assert response.status_code == 400, response.json()
    assert "at" in response.json()["errors"]


def test_a_read_token_may_ask_and_an_anonymous_caller_may_not(admin_user, cart_api, now):
    assert token_client(admin_user, "read").get(URL, {"component": "production/cart-api"}).status_code == 200
    assert APIClient().get(URL, {"component": "production/cart-api"}).status_code in (401, 403)
    assert token_client(admin_user, "feed").get(URL, {"component": "production/cart-api"}).status_code == 403


def test_the_endpoint_is_in_the_openapi_schema_with_its_shape(viewer_api):
    schema = APIClient().get("/api/schema/?format=json").json()
    operation = schema["paths"][URL]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"component", "at"}
    assert {"200", "400", "404"} <= set(operation["responses"])
    shape = schema["components"]["schemas"]["CalendarState"]
    assert {"state", "reason", "freeze", "next_change"} <= set(shape["required"])
