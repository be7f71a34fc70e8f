"""`__any_of` (estate.core.db.AnyOf): the rows `__in` gives, with the keys as one array on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from estate.inventory.models import Component, Instance, Tag
from tests.factories import ImmutableComponentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows():
    components = ImmutableComponentFactory.create_batch(4)
    tag = Tag.objects.create(name="edge", slug="edge")
    components[0].tags.add(tag)
    components[2].tags.add(tag)
    for component in components[:3]:
        Instance.objects.create(component=component, external_id=f"i-{component.pk}")
    return components, tag


def test_any_of_selects_what_in_selects_on_keys_text_foreign_keys_and_many_relations(rows):
    components, tag = rows
    keys = [components[1].pk, components[3].pk, 10**12]
    cases = [
        (Component.objects, "pk", keys),
        (Component.objects, "slug", [components[0].slug, "no-such-slug"]),
        (Instance.objects, "component_id", keys),
        (Instance.objects, "component", keys),
        (Component.objects, "tags", [tag.pk]),
        (Tag.objects, "components", [components[0].pk, components[1].pk]),
    ]
    for manager, field, values in cases:
        expected = set(manager.filter(**{f"{field}__in": values}).values_list("pk", flat=True))
        assert set(manager.filter(**{f"{field}__any_of": values}).values_list("pk", flat=True)) == expected, field
        assert expected, field  # each case matches something


def test_no_keys_match_nothing_and_a_set_or_generator_is_read_once(rows):
    components, _tag = rows
    assert list(Component.objects.filter(pk__any_of=[])) == []
    assert Component.objects.filter(pk__any_of={components[0].pk}).count() == 1
    assert Component.objects.filter(pk__any_of=(c.pk for c in components)).count() == 4


def test_on_postgresql_the_keys_are_one_parameter_and_keys_past_64_bits_still_match_nothing(rows):
    if connection.vendor != "postgresql":
        pytest.skip("the array parameter is PostgreSQL's; elsewhere any_of is IN")
    keys = [c.pk for c in rows[0]]
    with CaptureQueriesContext(connection) as captured:
        assert Component.objects.filter(pk__any_of=keys).count() == 4
        assert Component.objects.filter(pk__any_of=[*keys[:2], 2**63, -(2**63) - 1]).count() == 2
    literal, wide = (query["sql"] for query in captured.captured_queries)
    # Integer keys go as one array literal; past bigint, as the driver's own array (compared as numeric).
    assert "= ANY(" in literal and "{" + ",".join(map(str, keys)) + "}" in literal and "::bigint[]" in literal
    assert "= ANY(" in wide and "::bigint[]" not in wide
