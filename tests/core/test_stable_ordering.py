from __future__ import annotations

import pytest

from tests.factories import EnvironmentFactory, ImmutableComponentFactory

pytestmark = pytest.mark.django_db


def test_paging_a_sort_with_ties_shows_every_row_once(api):
    env = EnvironmentFactory()
    ImmutableComponentFactory.create_batch(30, environment=env)
    seen = []
    for page in (1, 2, 3):
        response = api.get("/api/v1/components/", {"ordering": "-instances", "page_size": 10, "page": page})
        assert response.status_code == 200
        seen += [row["id"] for row in response.json()["results"]]
    assert len(seen) == 30
    assert len(set(seen)) == 30
