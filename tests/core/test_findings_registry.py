"""The findings registry: counting, listing, paging and filtering across every registered kind."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from estate.core import findings
from estate.core.choices import SEVERITY_ORDER, Severity
from estate.core.findings import (
    FindingKind,
    finding_counts,
    finding_kinds,
    finding_list,
    findings_per_component,
    register,
    severity_counts,
)
from estate.inventory.choices import InstanceState
from estate.inventory.models import Component, Instance
from tests.factories import (
    BastionComponentFactory,
    ImageFactory,
    ImmutableComponentFactory,
    InstanceFactory,
)

INVENTORY_ORDER = [
    "immutable-hands-on",
    "tainted-instance",
    "image-drift",
    "immutable-local-state",
    "no-telemetry",
    "instance-too-old",
]


def _pairs(page) -> list[tuple[str, object]]:
    return [(finding.kind.slug, finding.obj) for finding in page]


@pytest.fixture
def isolated_registry(monkeypatch):
    """A copy of the registry that a test may add to without leaking kinds into other tests."""
    monkeypatch.setattr(findings, "_registry", dict(findings._registry))
    return findings._registry


@pytest.fixture
def estate(db):
    """Seven findings over four components; two more components with none."""
    alpha = ImmutableComponentFactory(name="alpha", ssh_enabled=True, heartbeat_period_seconds=None)
    bravo = ImmutableComponentFactory(name="bravo")
    bravo_1 = InstanceFactory(component=bravo, external_id="b-1", tainted=True, taint_reason="edited by hand")
    bravo_2 = InstanceFactory(component=bravo, external_id="b-2", tainted=True, taint_reason="apt upgrade")
    InstanceFactory(
        component=bravo,
        external_id="b-3",
        tainted=True,
        taint_reason="gone",
        state=InstanceState.TERMINATED,
    )
    charlie = ImmutableComponentFactory(name="charlie", local_state="sessions on disk")
    delta = ImmutableComponentFactory(name="delta", max_instance_age_days=30)
    old_image = ImageFactory(component=delta, version="1.0.0")
    current = ImageFactory(component=delta, version="1.1.0")
    Component.objects.filter(pk=delta.pk).update(current_image=current)
    delta_drift = InstanceFactory(component=delta, external_id="d-1", image=old_image)
    delta_old = InstanceFactory(
        component=delta,
        external_id="d-2",
        image=current,
        launched_at=timezone.now() - timedelta(days=45),
    )
    echo = ImmutableComponentFactory(name="echo")
    foxtrot = BastionComponentFactory(name="foxtrot", heartbeat_period_seconds=None)
    return {
        "alpha": alpha,
        "bravo": bravo,
        "bravo_1": bravo_1,
        "bravo_2": bravo_2,
        "charlie": charlie,
        "delta": delta,
        "delta_drift": delta_drift,
        "delta_old": delta_old,
        "echo": echo,
        "foxtrot": foxtrot,
    }


@pytest.fixture
def everything(estate):
    e = estate
    return [
        ("immutable-hands-on", e["alpha"]),
        ("tainted-instance", e["bravo_1"]),
        ("tainted-instance", e["bravo_2"]),
        ("image-drift", e["delta_drift"]),
        ("immutable-local-state", e["charlie"]),
        ("no-telemetry", e["alpha"]),
        ("instance-too-old", e["delta_old"]),
    ]


# --- kinds ----------------------------------------------------------------------------------------


def test_kinds_come_most_severe_first_then_by_slug():
    kinds = finding_kinds()
    assert kinds == sorted(kinds, key=lambda k: (SEVERITY_ORDER[k.severity], k.slug))
    slugs = [k.slug for k in kinds]
    assert [s for s in slugs if s in INVENTORY_ORDER] == INVENTORY_ORDER


@pytest.mark.parametrize("severity", list(Severity))
def test_kinds_filter_by_severity(severity):
    kinds = finding_kinds(severity=severity)
    assert kinds
    assert {k.severity for k in kinds} == {severity}


def test_kinds_filter_by_slug():
    assert [k.slug for k in finding_kinds(slug="image-drift")] == ["image-drift"]
    assert finding_kinds(slug="no-such-kind") == []


def test_every_kind_has_advice_a_title_and_a_principle():
    for kind in finding_kinds():
        assert kind.title
        assert kind.advice
        assert 1 <= kind.principle <= 5


def test_registering_a_slug_again_replaces_the_kind(isolated_registry):
    before = len(finding_kinds())
    original = isolated_registry["no-telemetry"]
    replacement = FindingKind(
        slug="no-telemetry",
        title="replaced",
        severity=Severity.INFO,
        principle=2,
        advice="",
        violators=original.violators,
    )
    register(replacement)
    assert len(finding_kinds()) == before
    assert finding_kinds(slug="no-telemetry") == [replacement]


def test_registering_does_not_leak_between_tests():
    assert finding_kinds(slug="quarantined-instance") == []


# --- a kind registered by another app ----------------------------------------------------------------


@pytest.fixture
def quarantine_kind(isolated_registry):
    kind = FindingKind(
        slug="aaa-quarantined-instance",
        title="Instance in quarantine",
        severity=Severity.WARNING,
        principle=2,
        advice="Replace it.",
        violators=lambda: Instance.objects.filter(zone="quarantine").select_related("component"),
        component_path="component",
    )
    register(kind)
    return kind


def test_another_apps_kind_is_counted_listed_and_sorted_with_the_others(estate, quarantine_kind):
    quarantined = InstanceFactory(component=estate["echo"], external_id="q-1", zone="quarantine")
    assert finding_counts()["aaa-quarantined-instance"] == 1
    assert [k.slug for k in finding_kinds(severity=Severity.WARNING)][0] == "aaa-quarantined-instance"
    total, page = finding_list(severity=Severity.WARNING)
    assert total == 4
    assert _pairs(page)[0] == ("aaa-quarantined-instance", quarantined)
    assert page[0].component == estate["echo"]
    assert page[0].message == "q-1"  # describe defaults to str()
    assert findings_per_component([estate["echo"].pk]) == {estate["echo"].pk: 1}
    assert severity_counts(finding_counts())[Severity.WARNING] == 4


# --- counts ---------------------------------------------------------------------------------------------


def test_finding_counts_has_every_kind(estate):
    counts = finding_counts()
    assert set(counts) == {k.slug for k in finding_kinds()}
    assert {slug: counts[slug] for slug in INVENTORY_ORDER} == {
        "immutable-hands-on": 1,
        "tainted-instance": 2,
        "image-drift": 1,
        "immutable-local-state": 1,
        "no-telemetry": 1,
        "instance-too-old": 1,
    }


def test_finding_counts_for_some_components(estate):
    counts = finding_counts(component_ids=[estate["bravo"].pk, estate["delta"].pk])
    assert {slug: n for slug, n in counts.items() if n} == {
        "tainted-instance": 2,
        "image-drift": 1,
        "instance-too-old": 1,
    }


def test_finding_counts_for_no_components_are_zero(estate):
    assert set(finding_counts(component_ids=[]).values()) == {0}


def test_severity_counts_add_up_the_kinds(estate):
    assert severity_counts(finding_counts()) == {"critical": 3, "warning": 3, "info": 1}


def test_severity_counts_name_every_severity_even_when_nothing_is_found(db):
    assert severity_counts(finding_counts()) == {"critical": 0, "warning": 0, "info": 0}
    assert severity_counts({}) == {"critical": 0, "warning": 0, "info": 0}


# --- per component --------------------------------------------------------------------------------------


def test_findings_per_component_counts_every_kind_for_each_component(estate):
    e = estate
    ids = [e[name].pk for name in ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot")]
    assert findings_per_component(ids) == {
        e["alpha"].pk: 2,
        e["bravo"].pk: 2,
        e["charlie"].pk: 1,
        e["delta"].pk: 2,
        e["echo"].pk: 0,
        e["foxtrot"].pk: 0,
    }


def test_findings_per_component_answers_only_for_the_given_components(estate):
    assert findings_per_component([estate["bravo"].pk]) == {estate["bravo"].pk: 2}
    assert findings_per_component([]) == {}


# --- the list: order, pages, filters ------------------------------------------------------------------------


def test_finding_list_orders_by_severity_then_kind_then_row(everything):
    total, page = finding_list()
    assert total == 7
    assert _pairs(page) == everything


@pytest.mark.parametrize(("offset", "limit"), [(0, 3), (3, 3), (6, 3), (2, 2), (1, 5), (0, 7), (5, 100)])
def test_finding_list_pages_across_kinds(everything, offset, limit):
    total, page = finding_list(offset=offset, limit=limit)
    assert total == 7
    assert _pairs(page) == everything[offset : offset + limit]


def test_finding_list_pages_put_together_give_the_whole_list(everything):
    pages = [finding_list(offset=offset, limit=2)[1] for offset in range(0, 8, 2)]
    assert [pair for page in pages for pair in _pairs(page)] == everything


def test_finding_list_past_the_end_is_an_empty_page_with_the_total(everything):
    assert finding_list(offset=7, limit=10) == (7, [])
    assert finding_list(offset=50, limit=10) == (7, [])


def test_finding_list_with_limit_zero_still_counts(everything):
    assert finding_list(limit=0) == (7, [])


def test_finding_list_fetches_rows_only_for_kinds_on_the_page(everything, django_assert_num_queries):
    # The first kind fills the page: one count per kind, one fetch.
    with django_assert_num_queries(len(finding_kinds()) + 1):
        total, page = finding_list(limit=1)
    assert (total, _pairs(page)) == (7, everything[:1])


@pytest.mark.parametrize("severity", list(Severity))
def test_finding_list_filters_by_severity(estate, everything, severity):
    total, page = finding_list(severity=severity)
    expected = [pair for pair in everything if findings._registry[pair[0]].severity == severity]
    assert (total, _pairs(page)) == (len(expected), expected)
    assert {finding.severity for finding in page} == {severity}


def test_finding_list_filters_by_kind(estate):
    total, page = finding_list(kind="tainted-instance")
    assert (total, _pairs(page)) == (
        2,
        [("tainted-instance", estate["bravo_1"]), ("tainted-instance", estate["bravo_2"])],
    )


def test_finding_list_for_an_unknown_kind_is_empty(estate):
    assert finding_list(kind="no-such-kind") == (0, [])


def test_finding_list_filters_by_component(estate):
    e = estate
    total, page = finding_list(component_ids=[e["alpha"].pk, e["delta"].pk])
    assert total == 4
    assert _pairs(page) == [
        ("immutable-hands-on", e["alpha"]),
        ("image-drift", e["delta_drift"]),
        ("no-telemetry", e["alpha"]),
        ("instance-too-old", e["delta_old"]),
    ]
    assert {finding.component for finding in page} == {e["alpha"], e["delta"]}


def test_finding_list_combines_filters_and_pages(estate):
    e = estate
    ids = [e["alpha"].pk, e["bravo"].pk]
    total, page = finding_list(severity=Severity.CRITICAL, component_ids=ids, offset=1, limit=1)
    assert (total, _pairs(page)) == (3, [("tainted-instance", e["bravo_1"])])


def test_finding_list_for_a_component_without_findings_is_empty(estate):
    assert finding_list(component_ids=[estate["echo"].pk, estate["foxtrot"].pk]) == (0, [])
