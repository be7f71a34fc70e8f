"""Inventory's finding kinds: each violation is reported, and its closest innocent neighbour is not."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from estate.core.choices import Severity
from estate.core.findings import finding_counts, finding_kinds, finding_list, findings_per_component
from estate.inventory.choices import InstanceState, Mode
from estate.inventory.models import Component
from estate.inventory.selectors import estate_summary
from tests.factories import (
    BastionComponentFactory,
    ImageFactory,
    ImmutableComponentFactory,
    InstanceFactory,
)

pytestmark = pytest.mark.django_db

INVENTORY_KINDS = {
    "immutable-hands-on": Severity.CRITICAL,
    "tainted-instance": Severity.CRITICAL,
    "immutable-local-state": Severity.WARNING,
    "no-telemetry": Severity.WARNING,
    "image-drift": Severity.WARNING,
    "instance-too-old": Severity.INFO,
}


def _found(kind: str) -> list:
    total, page = finding_list(kind=kind)
    assert total == len(page)
    return page


def _reported(kind: str) -> list:
    return [finding.obj for finding in _found(kind)]


def _days_ago(days: float):
    return timezone.now() - timedelta(days=days)


def _with_images(component, *versions: str):
    """Give an immutable component images; the last one is current. Returns the images."""
    images = [ImageFactory(component=component, version=v) for v in versions]
    Component.objects.filter(pk=component.pk).update(current_image=images[-1])
    component.refresh_from_db()
    return images


def test_inventory_registers_every_kind_with_its_severity():
    registered = {kind.slug: kind.severity for kind in finding_kinds()}
    assert registered.items() >= INVENTORY_KINDS.items()


def test_clean_estate_has_no_findings():
    component = ImmutableComponentFactory()
    (image,) = _with_images(component, "1.0.0")
    InstanceFactory(component=component, image=image)
    BastionComponentFactory(heartbeat_period_seconds=None, local_state="WAL on local disk")
    assert finding_list() == (0, [])
    assert set(finding_counts().values()) == {0}


# --- immutable-hands-on --------------------------------------------------------------------


def test_immutable_component_with_ssh_is_reported_as_critical():
    component = ImmutableComponentFactory(name="orders-api", ssh_enabled=True)
    ImmutableComponentFactory()
    (finding,) = _found("immutable-hands-on")
    assert finding.obj == component
    assert finding.component == component
    assert finding.severity == Severity.CRITICAL
    assert finding.message == "orders-api (Production) has SSH enabled."
    assert finding.kind.principle == 1


def test_immutable_component_with_config_management_is_reported():
    component = ImmutableComponentFactory(name="orders-api", config_management_enabled=True)
    (finding,) = _found("immutable-hands-on")
    assert finding.obj == component
    assert finding.message == "orders-api (Production) has config management enabled."


def test_immutable_component_with_ssh_and_config_management_is_reported_once():
    ImmutableComponentFactory(name="orders-api", ssh_enabled=True, config_management_enabled=True)
    (finding,) = _found("immutable-hands-on")
    assert finding.message == "orders-api (Production) has SSH and config management enabled."


def test_immutable_component_hands_off_is_not_reported_for_hands_on():
    ImmutableComponentFactory(ssh_enabled=False, config_management_enabled=False)
    BastionComponentFactory()
    assert _reported("immutable-hands-on") == []


# --- tainted-instance -------------------------------------------------------------------------


@pytest.mark.parametrize("state", [InstanceState.RUNNING, InstanceState.PENDING])
def test_live_tainted_instance_is_reported_as_critical(state):
    component = ImmutableComponentFactory(name="orders-api")
    instance = InstanceFactory(
        component=component, external_id="i-1", state=state, tainted=True, taint_reason="edited nginx.conf"
    )
    InstanceFactory(component=component, external_id="i-2")
    (finding,) = _found("tainted-instance")
    assert finding.obj == instance
    assert finding.component == component
    assert finding.severity == Severity.CRITICAL
    assert finding.message == "i-1 of orders-api is tainted: edited nginx.conf"


@pytest.mark.parametrize("state", [InstanceState.TERMINATING, InstanceState.TERMINATED])
def test_tainted_instance_on_its_way_out_is_not_reported(state):
    InstanceFactory(state=state, tainted=True, taint_reason="edited nginx.conf")
    assert _reported("tainted-instance") == []


def test_tainted_node_of_a_bastion_is_not_reported():
    InstanceFactory(component=BastionComponentFactory(), tainted=True, taint_reason="patched by hand, as planned")
    assert _reported("tainted-instance") == []


# --- immutable-local-state --------------------------------------------------------------------


def test_immutable_component_with_local_state_is_reported_as_warning():
    component = ImmutableComponentFactory(name="resizer", local_state="half-resized images in /tmp")
    ImmutableComponentFactory(local_state="")
    (finding,) = _found("immutable-local-state")
    assert finding.obj == component
    assert finding.component == component
    assert finding.severity == Severity.WARNING
    assert finding.message == "resizer (Production) keeps local state: half-resized images in /tmp"
    assert finding.kind.principle == 4


def test_bastion_with_local_state_is_not_reported_for_local_state():
    BastionComponentFactory(local_state="data directory on local NVMe")
    assert _reported("immutable-local-state") == []


# --- no-telemetry -------------------------------------------------------------------------------


def test_immutable_component_without_heartbeat_is_reported_as_warning():
    component = ImmutableComponentFactory(name="etl-runner", heartbeat_period_seconds=None)
    ImmutableComponentFactory(heartbeat_period_seconds=10)
    (finding,) = _found("no-telemetry")
    assert finding.obj == component
    assert finding.component == component
    assert finding.severity == Severity.WARNING
    assert finding.message == "etl-runner (Production) reports no heartbeat."
    assert finding.kind.principle == 2


def test_bastion_without_heartbeat_is_never_reported_for_telemetry():
    BastionComponentFactory(heartbeat_period_seconds=None)
    assert _reported("no-telemetry") == []


# --- image-drift --------------------------------------------------------------------------------


def test_instance_on_an_old_image_is_reported_as_warning():
    component = ImmutableComponentFactory(name="cart-api")
    old, current = _with_images(component, "1.0.0", "1.1.0")
    drifted = InstanceFactory(component=component, external_id="i-old", image=old)
    InstanceFactory(component=component, external_id="i-new", image=current)
    (finding,) = _found("image-drift")
    assert finding.obj == drifted
    assert finding.component == component
    assert finding.severity == Severity.WARNING
    assert finding.message == "i-old runs 1.0.0; cart-api is on 1.1.0."


def test_instance_without_an_image_counts_as_drift():
    component = ImmutableComponentFactory(name="cart-api")
    _with_images(component, "1.1.0")
    instance = InstanceFactory(component=component, external_id="i-bare", image=None)
    (finding,) = _found("image-drift")
    assert finding.obj == instance
    assert finding.message == "i-bare runs an unknown image; cart-api is on 1.1.0."


def test_instance_on_the_current_image_is_not_reported_for_drift():
    component = ImmutableComponentFactory()
    (current,) = _with_images(component, "1.1.0")
    InstanceFactory(component=component, image=current)
    assert _reported("image-drift") == []


def test_component_without_a_current_image_has_no_drift():
    component = ImmutableComponentFactory()
    image = ImageFactory(component=component)
    InstanceFactory(component=component, image=image)
    InstanceFactory(component=component, image=None)
    assert _reported("image-drift") == []


def test_terminated_instance_on_an_old_image_is_not_reported_for_drift():
    component = ImmutableComponentFactory()
    old, _current = _with_images(component, "1.0.0", "1.1.0")
    InstanceFactory(component=component, image=old, state=InstanceState.TERMINATED)
    assert _reported("image-drift") == []


# --- instance-too-old -----------------------------------------------------------------------------


def test_instance_past_its_maximum_age_is_reported_as_info():
    component = ImmutableComponentFactory(name="fraud-scorer", max_instance_age_days=30)
    launched = _days_ago(45)
    old = InstanceFactory(component=component, external_id="i-old", launched_at=launched)
    InstanceFactory(component=component, external_id="i-young", launched_at=_days_ago(1))
    (finding,) = _found("instance-too-old")
    assert finding.obj == old
    assert finding.component == component
    assert finding.severity == Severity.INFO
    assert finding.message == (f"i-old of fraud-scorer was launched {launched:%Y-%m-%d}, past the 30-day limit.")


def test_instance_just_past_its_maximum_age_is_reported():
    component = ImmutableComponentFactory(max_instance_age_days=30)
    old = InstanceFactory(component=component, launched_at=_days_ago(30) - timedelta(minutes=1))
    assert _reported("instance-too-old") == [old]


def test_instance_just_within_its_maximum_age_is_not_reported():
    component = ImmutableComponentFactory(max_instance_age_days=30)
    InstanceFactory(component=component, launched_at=_days_ago(30) + timedelta(minutes=1))
    assert _reported("instance-too-old") == []


def test_each_component_has_its_own_age_limit():
    strict = ImmutableComponentFactory(max_instance_age_days=7)
    lenient = ImmutableComponentFactory(max_instance_age_days=90)
    over = InstanceFactory(component=strict, launched_at=_days_ago(10))
    InstanceFactory(component=lenient, launched_at=_days_ago(10))
    assert _reported("instance-too-old") == [over]


@pytest.mark.postgres
def test_instance_exactly_at_its_maximum_age_is_not_reported():
    # PostgreSQL's NOW() is the transaction's start, fixed for the whole test, so the
    # boundary can be hit to the microsecond against the database's own clock.
    with connection.cursor() as cursor:
        cursor.execute("SELECT NOW()")
        (now,) = cursor.fetchone()
    component = ImmutableComponentFactory(max_instance_age_days=30)
    InstanceFactory(component=component, external_id="i-exact", launched_at=now - timedelta(days=30))
    older = InstanceFactory(
        component=component, external_id="i-older", launched_at=now - timedelta(days=30, microseconds=1)
    )
    assert _reported("instance-too-old") == [older]


def test_instance_of_a_component_without_age_limit_is_not_reported():
    component = ImmutableComponentFactory(max_instance_age_days=None)
    InstanceFactory(component=component, launched_at=_days_ago(400))
    assert _reported("instance-too-old") == []


def test_terminated_old_instance_is_not_reported():
    component = ImmutableComponentFactory(max_instance_age_days=30)
    InstanceFactory(component=component, launched_at=_days_ago(45), state=InstanceState.TERMINATED)
    assert _reported("instance-too-old") == []


def test_bastion_node_never_ages_out():
    InstanceFactory(component=BastionComponentFactory(), launched_at=_days_ago(1000))
    assert _reported("instance-too-old") == []


# --- estate_summary -----------------------------------------------------------------------------


def test_estate_summary_counts_modes_and_the_truly_immutable():
    ImmutableComponentFactory()  # truly immutable
    retired_taint = ImmutableComponentFactory()  # truly immutable: its tainted instance is gone
    InstanceFactory(component=retired_taint, state=InstanceState.TERMINATED, tainted=True, taint_reason="x")
    ImmutableComponentFactory(ssh_enabled=True)
    ImmutableComponentFactory(config_management_enabled=True)
    ImmutableComponentFactory(local_state="sessions")
    ImmutableComponentFactory(heartbeat_period_seconds=None)
    tainted = ImmutableComponentFactory()
    InstanceFactory(component=tainted, tainted=True, taint_reason="edited by hand")
    BastionComponentFactory()
    BastionComponentFactory(category="service", holds_state=False)
    assert estate_summary() == {
        "total": 9,
        "immutable": 7,
        "bastion": 2,
        "stateless": 8,
        "truly_immutable": 2,
    }


# --- bounded queries: the cost of a question does not grow with the estate ------------------------

PROBLEMS_PER_TWELVE = 12


def _grow_estate(to: int) -> None:
    """Grow a mixed estate to `to` components, in a repeating pattern of twelve.

    Every immutable component has one instance past its age limit, so that kind grows with the
    estate; each other kind shows up once in every twelve components, and two in twelve are
    bastions. With a page of 50 the list therefore reaches every kind for 5 components and for 60
    alike, so both estates ask the same questions and only the number of rows differs.
    """
    for i in range(Component.objects.count(), to):
        slot = i % PROBLEMS_PER_TWELVE
        if slot >= 10:
            InstanceFactory(component=BastionComponentFactory(), launched_at=_days_ago(400))
            continue
        component = ImmutableComponentFactory(
            ssh_enabled=slot == 0,
            local_state="sessions on disk" if slot == 3 else "",
            heartbeat_period_seconds=None if slot == 4 else 30,
            max_instance_age_days=30,
        )
        old, current = _with_images(component, "1.0.0", "1.1.0")
        InstanceFactory(component=component, image=current, launched_at=_days_ago(45))
        InstanceFactory(
            component=component,
            image=old if slot == 2 else current,
            tainted=slot == 1,
            taint_reason="edited by hand" if slot == 1 else "",
        )


def _render_findings(page) -> list[tuple]:
    # Everything a page shows, so that a lazy relation in a describe() would cost queries here.
    return [(f.kind.slug, f.severity, f.message, f.component.pk, str(f.component)) for f in page]


def _list_page():
    total, page = finding_list(limit=50)
    return total, _render_findings(page)


def _count_queries(question) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as captured:
        result = question()
    return len(captured), result


def _kinds() -> int:
    return len(finding_kinds())


def test_finding_counts_cost_the_same_for_5_and_60_components(django_assert_num_queries):
    _grow_estate(5)
    small, small_counts = _count_queries(finding_counts)
    assert small == _kinds()
    _grow_estate(60)
    with django_assert_num_queries(small):
        large_counts = finding_counts()
    assert large_counts["instance-too-old"] == 50 > small_counts["instance-too-old"] == 5


def test_finding_list_page_costs_the_same_for_5_and_60_components(django_assert_num_queries):
    _grow_estate(5)
    small, (small_total, small_page) = _count_queries(_list_page)
    # One count per registered kind and one fetch per kind with rows on the page: nothing per row.
    assert small == _kinds() + len({row[0] for row in small_page})
    _grow_estate(60)
    with django_assert_num_queries(small):
        large_total, large_page = _list_page()
    assert (small_total, len(small_page)) == (10, 10)
    assert (large_total, len(large_page)) == (75, 50)
    assert {row[0] for row in small_page} == {row[0] for row in large_page} == set(INVENTORY_KINDS)


@pytest.mark.parametrize("kind", list(INVENTORY_KINDS))
def test_one_kinds_page_costs_the_same_for_5_and_60_components(kind, django_assert_num_queries):
    _grow_estate(5)
    small, (_, small_page) = _count_queries(lambda: finding_list(kind=kind, limit=50))
    _render_findings(small_page)
    assert small == 2
    _grow_estate(60)
    with django_assert_num_queries(small):
        _, large_page = finding_list(kind=kind, limit=50)
        _render_findings(large_page)
    assert len(large_page) > len(small_page) >= 1


def test_findings_per_component_costs_the_same_for_5_and_60_components(django_assert_num_queries):
    _grow_estate(5)
    small_ids = list(Component.objects.order_by("pk").values_list("pk", flat=True))
    small, small_totals = _count_queries(lambda: findings_per_component(small_ids))
    assert small == _kinds()
    _grow_estate(60)
    large_ids = list(Component.objects.order_by("pk").values_list("pk", flat=True)[:50])
    with django_assert_num_queries(small):
        large_totals = findings_per_component(large_ids)
    assert set(large_totals) == set(large_ids)
    assert sum(large_totals.values()) > sum(small_totals.values())


def test_estate_summary_costs_one_query_for_5_and_60_components(django_assert_num_queries):
    _grow_estate(5)
    small, small_summary = _count_queries(estate_summary)
    assert small == 1
    _grow_estate(60)
    with django_assert_num_queries(small):
        large_summary = estate_summary()
    assert small_summary["total"] == 5
    assert large_summary == {
        "total": 60,
        "immutable": 50,
        "bastion": 10,
        "stateless": 50,
        "truly_immutable": 30,
    }


def test_bounded_estate_pattern_has_every_mode_and_kind():
    _grow_estate(60)
    assert set(Component.objects.values_list("mode", flat=True)) == {Mode.IMMUTABLE, Mode.BASTION}
    counts = finding_counts()
    assert {slug: counts[slug] for slug in INVENTORY_KINDS} == {
        "immutable-hands-on": 5,
        "tainted-instance": 5,
        "image-drift": 5,
        "immutable-local-state": 5,
        "no-telemetry": 5,
        "instance-too-old": 50,
    }
