"""The feed follows a window's components: removing, adding or renaming one is a new ETag and a new body."""

from __future__ import annotations

from django.test import Client
from icalendar import Calendar

from estate.inventory.models import Component
from estate.patching import services
from tests.factories import BastionComponentFactory
from tests.patching.conftest import make_window
from tests.patching.test_feed import START


def _get(token, **headers):
    return Client().get(f"/patching/feed/{token.secret}.ics", headers=headers)


def _descriptions(response) -> str:
    assert response.status_code == 200, response.status_code
    return " ".join(str(e["DESCRIPTION"]) for e in Calendar.from_ical(response.content).walk("VEVENT"))


def test_removing_a_component_through_the_api_changes_etag_and_body(now, api, admin_user, db1):
    other = BastionComponentFactory(name="billing-db", environment=db1.environment)
    window = make_window([db1, other], START, time_zone="Europe/Paris", rrule="FREQ=WEEKLY;BYDAY=TU")
    token = services.feed_token_create(user=admin_user, name="Mine", filters={})
    first = _get(token)
    assert "billing-db" in _descriptions(first)
    response = api.patch(f"/api/v1/patch-windows/{window.pk}/", {"components": [db1.pk]}, format="json")
    assert response.status_code == 200, response.json()
    again = _get(token, if_none_match=first["ETag"])
    assert again.status_code == 200
    assert again["ETag"] != first["ETag"]
    assert "billing-db" not in _descriptions(again)


def test_every_change_of_membership_or_name_is_a_new_etag(now, admin_user, db1):
    """Raw m2m writes (add, remove, clear), a rename and a delete, all at one frozen instant."""
    other = BastionComponentFactory(name="billing-db", environment=db1.environment)
    window = make_window([db1], START, time_zone="Europe/Paris", rrule="FREQ=WEEKLY;BYDAY=TU")
    token = services.feed_token_create(user=admin_user, name="Mine", filters={})
    changes = [
        lambda: window.components.add(other),
        lambda: window.components.remove(db1),
        lambda: Component.objects.filter(pk=other.pk).update(name="ledger-db"),
        lambda: window.components.clear(),
        lambda: window.components.add(db1, other),
        lambda: Component.objects.filter(pk=other.pk).delete(),
    ]
    etags = [_get(token)["ETag"]]
    for change in changes:
        change()
        response = _get(token, if_none_match=etags[-1])
        assert response.status_code == 200, f"change {len(etags)} kept the ETag"
        etags.append(response["ETag"])
    assert etags[-1] == etags[0]  # back to the first state (db1 alone): the same feed, the same ETag
    assert "ledger-db" not in _descriptions(_get(token)) and "orders-db" in _descriptions(_get(token))


def test_a_renamed_component_is_renamed_in_the_cached_feed(now, admin_user, db1):
    make_window([db1], START, time_zone="Europe/Paris", rrule="FREQ=WEEKLY;BYDAY=TU")
    token = services.feed_token_create(user=admin_user, name="Mine", filters={})
    assert "orders-db" in _descriptions(_get(token))
    Component.objects.filter(pk=db1.pk).update(name="sales-db")  # a raw write: updated_at unchanged
    assert "sales-db" in _descriptions(_get(token))
