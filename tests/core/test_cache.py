from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from estate.core.cache import cached_figures
from estate.inventory import services
from tests.factories import ImmutableComponentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def figures(settings):
    settings.ESTATE_FIGURES_CACHE_SECONDS = 60
    calls = []

    def compute():
        calls.append(1)
        return {"n": len(calls)}

    return compute


def test_figures_are_computed_once_within_their_lifetime(figures):
    assert cached_figures("t1", figures) == {"n": 1}
    assert cached_figures("t1", figures) == {"n": 1}


def test_a_write_through_the_services_drops_the_cached_figures(figures, django_capture_on_commit_callbacks):
    component = ImmutableComponentFactory()
    cached_figures("t2", figures)
    with django_capture_on_commit_callbacks(execute=True):
        services.component_update(component=component, data={"description": "changed"})
    assert cached_figures("t2", figures) == {"n": 2}


def test_a_refused_write_keeps_the_cached_figures(figures, django_capture_on_commit_callbacks):
    component = ImmutableComponentFactory()
    cached_figures("t3", figures)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError):
        services.component_update(component=component, data={"holds_state": True})
    assert cached_figures("t3", figures) == {"n": 1}
